#!/usr/bin/python3
"""zdu-coordinator's preflight refuses to drain a node when too few others would serve: with
node3 already in maintenance (its own agent flag, set by an operator) and min_ready 2, only
node2 would be left serving while node1 is upgraded. The coordinator exits 4, names the load
balancer and the count, and changes nothing: node1 gets no flag, stays UP on both load
balancers, and the journal records no step of any node."""
import json
import os

from agentlib import check, main
from clusterlib import Cluster
from testutil import wait_until


def journal_steps(path):
    if not os.path.exists(path):
        return []
    return [json.loads(line) for line in open(path) if line.strip() and '"step"' in line]


def run():
    with Cluster(nodes=3, lbs=2) as cl:
        mapfile, record = cl.upgrade_map()
        node3 = cl.node('node3')['agent']
        r = node3.cli('--maintenance', 'on', '--reason', 'hardware check')
        check(r.returncode == 0, 'node3 put in maintenance by its agent', r)
        for lb in cl.lbs:
            lb.wait_server('node3', 'DRAIN (agent)', timeout=15)
        print('node3 DRAIN on both load balancers')

        plan = cl.write_plan(cl.upgrade_command(mapfile), min_ready=2)
        r = cl.coordinator('--plan', plan)
        print(r.stdout, r.stderr, sep='\n')
        check(r.returncode == 4, 'coordinator exit 4 (preflight refused)', r.returncode)
        fail = [line for line in r.stdout.splitlines() if 'min_ready' in line]
        check(fail, 'a line says why (min_ready)', r.stdout)
        msg = fail[0]
        check('node1' in msg and 'preflight' in msg, 'it is node1\'s preflight', msg)
        check('load balancer lb1' in msg, 'the message names the load balancer', msg)
        check('only 1 other server UP' in msg and 'min_ready is 2' in msg,
              'the message gives the count and min_ready', msg)
        check('nothing of node1 was changed' in r.stdout and '--resume' in r.stdout,
              'it says nothing was changed and what to do next', r.stdout)

        st = cl.node('node1')['agent'].status()
        check(not st['flag']['active'], 'node1 has no maintenance flag', st['flag'])
        check(not os.path.exists(cl.node('node1')['agent'].flag_path), 'node1 has no flag file')
        check(st['reply'].startswith('up ready'), 'node1 agent still replies ready', st['reply'])
        for lb in cl.lbs:
            for name in ('node1', 'node2'):
                row = lb.server(name)
                check(row['status'] == 'UP' and row['weight'] == '100',
                      '%s still UP weight 100 on %s' % (name, lb.name), row['status'])
        steps = journal_steps(os.path.join(cl.workdir, 'journal'))
        check(steps == [], 'the journal records no step', steps)
        check(not os.path.exists(record), 'the upgrade command never ran')
        check(node3.status()['flag']['active'], 'node3 keeps its own flag')

        # Once node3 is back, the same plan passes the preflight (a dry run: still nothing done).
        r = node3.cli('--maintenance', 'off')
        check(r.returncode == 0, 'node3 maintenance off', r)
        cl.wait_all_up(timeout=15)
        r = cl.coordinator('--plan', plan, '--dry-run')
        print(r.stdout, r.stderr, sep='\n')
        check(r.returncode == 0, 'with node3 back, the preflights pass (dry run exit 0)', r.returncode)


class NoCheckCluster(Cluster):
    """Servers with agent-check but no `check`: HAProxy shows a serving one as 'no check'."""

    def wait_all_up(self, timeout=15):
        wait_until(lambda: all(lb.server(n['name'])['status'] == 'no check'
                               and lb.server(n['name'])['weight'] == '100'
                               and lb.server(n['name'])['agent_status'] == 'L7OK'
                               for lb in self.lbs for n in self.nodes),
                   timeout=timeout, message='every server "no check", weight 100, agent L7OK')


def fixed_bugs():
    """A backend whose servers have agent-check but no `check` (valid HAProxy; the agent alone
    drives them) shows serving servers as status "no check": zdu_lb_server_up() only accepts
    "UP...", so the preflight counts 0 ready servers and refuses every node (and wait-up could
    never succeed)."""
    with NoCheckCluster(nodes=3, lbs=1, lb_kwargs=dict(check=False)) as cl:
        mapfile, record = cl.upgrade_map()
        plan = cl.write_plan(cl.upgrade_command(mapfile), timeouts=dict(up_ms=10000))
        r = cl.coordinator('--plan', plan, '--dry-run')
        print(r.stdout, r.stderr, sep='\n')
        check(r.returncode == 0, '"no check" servers count as ready: dry run exit 0', r.returncode)


def run_all():
    run()
    fixed_bugs()


if __name__ == '__main__':
    main(run_all)
