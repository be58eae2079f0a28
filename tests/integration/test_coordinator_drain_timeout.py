#!/usr/bin/python3
"""zdu-coordinator gives up waiting for a drain that does not end, safely: exit 3, a message
saying what is still open, the node left drained (flag set, DRAIN on both load balancers) and
its upgrade command never run.

  1. A client holds a TCP session through lb1's frontend (mode tcp) on node1: with a 2.5 s
     drain timeout the coordinator exits 3 and says lb1 still has scur=1 for node1.
  2. That client gone, another holds a TCP connection straight to node1's nova-api port,
     which no load balancer sees: --resume exits 3 again, lb scur=0 but the agent counts
     1 connection, and says so.
  3. Both gone: --resume completes, and node1's upgrade ran exactly once."""
import json
import os
import re
import socket

from agentlib import check, main
from clusterlib import Cluster
from testutil import free_port, wait_until


def flagged_and_drained(cl, name):
    st = cl.node(name)['agent'].status()
    check(st['flag']['active'], '%s keeps its maintenance flag' % name, st['flag'])
    for lb in cl.lbs:
        row = lb.server(name)
        check('DRAIN' in row['status'], '%s stays DRAIN on %s' % (name, lb.name), row['status'])


def fail_line(stdout):
    lines = [line for line in stdout.splitlines() if 'not drained after' in line]
    check(lines, 'a line says the drain timed out', stdout)
    return lines[0]


def run():
    fe_ports = [free_port(), free_port()]
    with Cluster(nodes=3, lbs=2, lb_mode='tcp',
                 lb_kwargs=lambda j: dict(frontend=('127.0.0.1', fe_ports[j]))) as cl:
        mapfile, record = cl.upgrade_map()
        lb1 = cl.lbs[0]
        plan = cl.write_plan(cl.upgrade_command(mapfile), timeouts=dict(drain_ms=2500))

        # 1. a session through lb1 held on node1 (round robin: open until node1 has one).
        held, extra = None, []
        for _ in range(6):
            s = socket.create_connection(('127.0.0.1', fe_ports[0]), timeout=5)
            try:
                wait_until(lambda: sum(int(lb1.server(n)['scur'] or 0)
                                       for n in ('node1', 'node2', 'node3')) == len(extra) + 1,
                           timeout=5, message='the new session shows in scur')
            except AssertionError:
                s.close()
                raise
            if int(lb1.server('node1')['scur'] or 0) == 1:
                held = s
                break
            extra.append(s)
        check(held is not None, 'a client session through lb1 lands on node1')
        for s in extra:
            s.close()
        wait_until(lambda: all(int(lb1.server(n)['scur'] or 0) == 0 for n in ('node2', 'node3')),
                   timeout=10, message='the other sessions closed')

        r = cl.coordinator('--plan', plan)
        print(r.stdout, r.stderr, sep='\n')
        check(r.returncode == 3, 'coordinator exit 3 (wait timed out)', r.returncode)
        msg = fail_line(r.stdout)
        check('node1' in msg and 'wait-drained' in msg, 'it is node1 waiting for its drain', msg)
        check('lb1: DRAIN' in msg and 'scur=1' in msg, 'it says lb1 still has node1\'s session (scur=1)',
              msg)
        check('stays in maintenance' in r.stdout and '--resume' in r.stdout,
              'it says node1 stays drained and how to continue', r.stdout)
        flagged_and_drained(cl, 'node1')
        check(not os.path.exists(record), 'the upgrade command never ran')
        for name in ('node2', 'node3'):
            check(not cl.node(name)['agent'].status()['flag']['active'], '%s untouched' % name)
        held.close()

        # 2. a connection straight to node1's API port: only the agent can see it.
        nova1 = cl.node('node1')
        direct = socket.create_connection((nova1['addr'], nova1['nova'].port), timeout=5)
        wait_until(lambda: all(int(lb.server('node1')['scur'] or 0) == 0 for lb in cl.lbs)
                   and nova1['agent'].status()['drain']['connections'] >= 1,
                   timeout=10, message='lb sessions gone, the agent counts the direct connection')
        r = cl.coordinator('--plan', plan, '--resume')
        print(r.stdout, r.stderr, sep='\n')
        check(r.returncode == 3, 'resume: exit 3 again (wait timed out)', r.returncode)
        msg = fail_line(r.stdout)
        check('lb1: DRAIN' in msg and 'lb2: DRAIN' in msg and 'scur=1' not in msg,
              'both load balancers drained with no session', msg)
        # (HAProxy's own TCP health checks may add one for an instant)
        m = re.search(r'agent: (\d+) connection\(s\)', msg)
        check(m and int(m.group(1)) >= 1, 'it says the agent still counts the connection', msg)
        flagged_and_drained(cl, 'node1')
        check(not os.path.exists(record), 'the upgrade command still never ran')

        # 3. nothing open any more: the rollout completes from node1.
        direct.close()
        r = cl.coordinator('--plan', plan, '--resume', timeout=180)
        print(r.stdout[-3000:], r.stderr, sep='\n')
        check(r.returncode == 0, 'resume with nothing open: exit 0', r.returncode)
        seen = [json.loads(line)['node'] for line in open(record)]
        check(seen == ['node1', 'node2', 'node3'], 'each upgrade ran once, in order', seen)
        cl.wait_all_up(timeout=15)


if __name__ == '__main__':
    main(run)
