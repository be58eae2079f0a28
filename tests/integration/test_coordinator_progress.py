#!/usr/bin/python3
"""zdu-coordinator's progress for Prometheus (--textfile-dir) and --status.

Two agents with fake nova-api on 127.0.0.76-77 behind one real HAProxy (clusterlib).

  1. Before any run, --status says the rollout has not started and how to start it.
  2. A rollout with --textfile-dir: while it runs, zdu_coordinator.prom names the node and
     step in progress (polled: several steps seen, never half a file); at the end it says
     result "done", 2 of 2 nodes done, and a duration for every step of each node.
     --status then says complete, nothing to do.
  3. A rollout whose upgrade fails on node2: the textfile says result "failed" and keeps
     node2's step (upgrade) where it stopped; --status says node2 is left in maintenance and
     to continue with --resume (text and --json).
"""
import json
import os
import subprocess
import time

from agentlib import check, main
from clusterlib import Cluster, coordinator_binary
from metricslib import parse, promtool, promtool_check, value
from testutil import tempdir


def progress_run(cl, plan, tf):
    """Runs the coordinator with --textfile-dir TF, sampling the textfile meanwhile."""
    prom = os.path.join(tf, 'zdu_coordinator.prom')
    p = subprocess.Popen([coordinator_binary(), '--plan', plan, '--textfile-dir', tf],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    while p.poll() is None:
        if os.path.exists(prom):
            with open(prom) as f:
                text = f.read()
            s = parse(text)   # raises on half a file
            for (name, labels), v in s.items():
                if name == 'zdu_coordinator_node_step' and v == 1:
                    step = (dict(labels)['node'], dict(labels)['step'])
                    if not seen or seen[-1] != step:
                        seen.append(step)
        time.sleep(0.02)
    out, err = p.communicate()
    with open(prom) as f:
        return p.returncode, out, err, f.read(), seen


def status(plan, *extra):
    r = subprocess.run([coordinator_binary(), '--plan', plan, '--status'] + list(extra),
                       capture_output=True, text=True, timeout=30)
    print('$ zdu-coordinator --plan %s --status %s -> %d\n%s%s' % (
        os.path.basename(plan), ' '.join(extra), r.returncode, r.stdout, r.stderr))
    return r


def test():
    with Cluster(nodes=2, lbs=1, base=76) as cl:
        tf = tempdir('zdu-coord-tf-')
        mapfile, _ = cl.upgrade_map()
        plan = cl.write_plan(cl.upgrade_command(mapfile), name='ok.conf',
                             journal=os.path.join(cl.workdir, 'ok.journal'))

        # 1. not started
        r = status(plan)
        check(r.returncode == 0 and 'not started' in r.stdout and 'start it' in r.stdout,
              '--status before a run: not started, how to start')

        # 2. a whole rollout
        rc, out, err, text, seen = progress_run(cl, plan, tf)
        check(rc == 0, 'rollout done', (rc, out[-500:], err))
        print('steps seen in the textfile while it ran: %s' % seen)
        check(len(seen) >= 4 and {n for n, _ in seen} == {'node1', 'node2'},
              'the textfile followed the node and step in progress', seen)
        s = parse(text)
        check(value(s, 'zdu_coordinator_rollout_result', plan='ok', result='done') == 1 and
              value(s, 'zdu_coordinator_rollout_running', plan='ok') == 0, 'result done', text)
        check(value(s, 'zdu_coordinator_nodes_done', plan='ok') == 2 and
              value(s, 'zdu_coordinator_nodes', plan='ok') == 2, '2 of 2 nodes done')
        for node in ('node1', 'node2'):
            for step in ('preflight', 'upgrade', 'wait-healthy'):
                d = value(s, 'zdu_coordinator_step_duration_seconds', plan='ok', node=node, step=step)
                check(d is not None and d >= 0, '%s %s took %.3f s' % (node, step, d or -1))
        check(value(s, 'zdu_coordinator_rollout_info', plan='ok', backend='nova-api',
                    strategy='rolling') == 1, 'rollout_info with backend and strategy')
        if promtool():
            ok, msg = promtool_check(text)
            check(ok, 'promtool check metrics accepts the progress textfile', msg)
        r = status(plan)
        check(r.returncode == 0 and 'complete, 2 of 2 nodes done' in r.stdout and
              'nothing' in r.stdout, '--status after it: complete, nothing to do')

        # 3. a failure on node2
        mapfile, _ = cl.upgrade_map(fail=['node2'], version='2.95', name='fail.json')
        plan = cl.write_plan(cl.upgrade_command(mapfile), name='bad.conf',
                             journal=os.path.join(cl.workdir, 'bad.journal'))
        rc, out, err, text, seen = progress_run(cl, plan, tf)
        check(rc == 1, 'the rollout stops (exit 1)', (rc, out[-300:]))
        s = parse(text)
        check(value(s, 'zdu_coordinator_rollout_result', plan='bad', result='failed') == 1,
              'result failed', text)
        check(value(s, 'zdu_coordinator_node_step', plan='bad', node='node2', step='upgrade') == 1,
              'the textfile keeps where it stopped: node2, upgrade', text)
        check(value(s, 'zdu_coordinator_nodes_done', plan='bad') == 1, '1 node done')
        r = status(plan)
        check(r.returncode == 0 and 'stopped' in r.stdout and '1 of 2 nodes done' in r.stdout,
              '--status: stopped, 1 of 2 done')
        check('node2 is left in maintenance' in r.stdout and '--resume' in r.stdout,
              '--status: node2 left drained, continue with --resume')
        r = status(plan, '--json')
        doc = json.loads(r.stdout)
        check(doc['state'] == 'stopped' and doc['node'] == 'node2' and doc['last_step'] == 'drained'
              and doc['nodes_done'] == 1, '--status --json: node2 stopped after drained', doc)


if __name__ == '__main__':
    main(test)
