#!/usr/bin/python3
"""zdu-coordinator's push_state (issue 18), against real HAProxy and the built zdu-agent: once
the agent confirms a flag set or cleared, every load balancer is sent the same state at once
(`set server nova-api/NODE state drain|ready`), and, made ready, a server its agent check had
DOWN is told the agent's up (`set server ... agent up`).

Three nodes on 127.0.0.171..173 (fake nova-api + zdu-agent each), two HAProxy whose agent checks
come every 60 s (the first at HAProxy's start, `max-spread-checks 100`): during a test nothing
the agent replies reaches them by an agent check, so what they show is what the coordinator
pushed. The plan rolls node1 only; the upgrade command
(tests/lib/fake_upgrade.py with agent_down) records what both load balancers show, then sends
them `set server nova-api/node1 agent down`, as an agent check during the restart would.

  1. push_state on (the default): exit 0; at the upgrade both load balancers showed node1 DRAIN
     with no session; after `agent down` both showed it DOWN (agent); at the end both show it
     UP with weight 100: the agent's up and the ready state came from the coordinator.
  2. The control, push_state = false: the load balancers never show node1 drained (their agent
     checks are a minute apart), so wait-drained times out (exit 3, "not drained"): in 1 the
     drain came from the push, not from an agent check.
  3. A load balancer whose stats socket is level operator (it reads show stat, refuses set
     server), agent checks every 300 ms: the coordinator says once that lb2 did not take set
     server, naming it, and the rollout of all three nodes still ends (exit 0) through lb2's
     agent checks."""
import json
import os

from agentlib import check, main
from clusterlib import Cluster

BASE = 171


def records(path):
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except OSError:
        return []


def slow_agent_checks():
    # agent checks a minute apart; max-spread-checks: every server's first checks at once (HAProxy
    # would spread them over the longest interval)
    with Cluster(nodes=3, lbs=2, agent_inter_ms=60000, settle_ms=800, base=BASE,
                 lb_kwargs=dict(extra_global=['max-spread-checks 100'])) as cl:
        mapfile, record = cl.upgrade_map(agent_down=True)
        cmd = cl.upgrade_command(mapfile)
        plan = cl.write_plan(cmd, nodes=['node1'], min_ready=0, expect_version='2.93',
                             timeouts=dict(drain_ms=5000, up_ms=5000, health_ms=5000))
        r = cl.coordinator('--plan', plan, timeout=60)
        print(r.stdout[-3000:], r.stderr[-2000:])
        check(r.returncode == 0, 'push_state: exit 0', r.returncode)
        recs = records(record)
        check(len(recs) == 1 and recs[0]['node'] == 'node1', 'node1 upgraded once', recs)
        seen = recs[0]['seen']
        check(all(v['status'].startswith('DRAIN') and v['scur'] == 0 for v in seen.values()) and len(seen) == 2,
              'at the upgrade both load balancers showed node1 DRAIN, no session (pushed)', seen)
        down = recs[0]['after_down']
        check(all(v['status'].startswith('DOWN') for v in down.values()),
              'after "agent down" both showed it DOWN', down)
        rows = [lb.server('node1') for lb in cl.lbs]
        check(all(row['status'] == 'UP' and row['weight'] == '100' for row in rows),
              'at the end both show node1 UP weight 100 (agent up and ready pushed)',
              [(row['status'], row['weight'], row['last_agt']) for row in rows])

        # the control: the same without push_state never drains
        plan2 = cl.write_plan(cmd, name='plan-nopush.conf', nodes=['node1'], min_ready=0,
                              expect_version='2.93',
                              journal=os.path.join(cl.workdir, 'journal-nopush'),
                              timeouts=dict(drain_ms=3000, up_ms=5000, health_ms=5000),
                              extra='push_state = false;')
        r = cl.coordinator('--plan', plan2, timeout=60)
        print(r.stdout[-1500:], r.stderr[-1500:])
        check(r.returncode == 3 and 'not drained' in r.stdout + r.stderr,
              'without push_state: wait-drained times out (exit 3, not drained)', r.returncode)
        check(len(records(record)) == 1, 'and no upgrade ran', records(record))
        node1 = cl.node('node1')['agent']
        node1.cli('--maintenance', 'off')


def refused():
    def lb_kwargs(j):
        if j != 1:
            return {}
        return dict(extra_global=['stats socket %s mode 600 level operator'
                                  % os.path.join(cl.workdir, 'lb2-op.sock')])
    cl = Cluster(nodes=3, lbs=2, agent_inter_ms=300, settle_ms=800, base=BASE, lb_kwargs=lb_kwargs)
    with cl:
        mapfile, record = cl.upgrade_map()
        lbs = [('lb1', 'unix:' + cl.lbs[0].sock_path), ('lb2', 'unix:' + os.path.join(cl.workdir, 'lb2-op.sock'))]
        plan = cl.write_plan(cl.upgrade_command(mapfile), lbs=lbs, expect_version='2.93')
        r = cl.coordinator('--plan', plan, timeout=120)
        out = r.stdout + r.stderr
        print(out[-3000:])
        check(r.returncode == 0, 'an operator-level socket: the rollout still ends (exit 0)', r.returncode)
        warned = [ln for ln in out.splitlines() if 'did not take set server (push_state)' in ln]
        check(len(warned) == 1 and 'lb2' in warned[0] and 'Permission denied' in warned[0],
              'said once, naming lb2 and its answer', warned)
        check(len(records(record)) == 3, 'every node upgraded', records(record))


def run():
    slow_agent_checks()
    refused()


if __name__ == '__main__':
    main(run)
