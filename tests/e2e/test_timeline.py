#!/usr/bin/python3
"""tests/e2e/timeline.py draws a scenario: from a made-up scenario directory written in the e2e's
formats (HAProxy 2.6's own log lines for a drain and a return, loadgen's records, the
coordinator's --json events), it reads each server's state changes, the per-second rates and the
coordinator's steps correctly, and writes a PNG (matplotlib's Agg backend: no display)."""
import json
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import timeline  # noqa: E402

from agentlib import check, main  # noqa: E402
from testutil import tempdir  # noqa: E402

T0 = 1796600000.0


def utc(t):
    import datetime
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat()


def test():
    d = tempdir('zdu-timeline-')
    with open(os.path.join(d, 'lb1.log'), 'w') as f:
        f.write('--- 22:20:27: /usr/sbin/haproxy -f lb1.cfg -db\n')
        f.write('<5>%s Health check for server nova-api/node1 succeeded, reason: Layer4 check passed.\n'
                % utc(T0))
        f.write('<5>%s Server nova-api/node1 enters drain state. 2 active and 0 backup servers left.\n'
                % utc(T0 + 3))
        f.write('[WARNING]  (1) : Server nova-api/node1 is DOWN. ignored: not a syslog line\n')
        f.write('<5>%s Server nova-api/node1 is DOWN. 2 active and 0 backup servers left.\n'
                % utc(T0 + 5))
        f.write('<5>%s Server nova-api/node1 is UP (leaving forced drain).\n' % utc(T0 + 8))
        f.write('<5>%s Server nova-api/node2 is going DOWN for maintenance.\n' % utc(T0 + 9))
    with open(os.path.join(d, 'records.jsonl'), 'w') as f:
        for i in range(100):
            t = T0 + i * 0.1
            st, err = (200, None) if i % 10 else ((406, None) if i == 50 else (0, 'reset'))
            f.write(json.dumps(dict(t=t, s=0, p='/v2.1/flavors', st=st, err=err, lat=0.01)) + '\n')
    with open(os.path.join(d, 'coordinator.jsonl'), 'w') as f:
        for dt, node, step, ev in ((0, None, None, 'start'), (1, 'node1', 'preflight', 'start'),
                                   (2, 'node1', 'drain', 'ok'), (4, 'node1', 'upgrade', 'start'),
                                   (7, 'node1', 'wait-up', 'ok'), (9, None, None, 'done')):
            f.write(json.dumps(dict(time=utc(T0 + dt), node=node, step=step, event=ev,
                                    message='m')) + '\n')

    states = timeline.lb_states(os.path.join(d, 'lb1.log'))
    check([s for _, s in states['node1']] == ['DRAIN', 'DOWN', 'UP'],
          'node1 on lb1: DRAIN, DOWN, UP from HAProxy\'s lines', states['node1'])
    check(states['node1'][0][0] == T0 + 3, 'at the log\'s times')
    check([s for _, s in states['node2']] == ['MAINT'], 'node2: MAINT', states['node2'])
    secs, req, failed, n406 = timeline.request_rates(os.path.join(d, 'records.jsonl'))
    check(sum(req) == 100 and sum(failed) == 9 and sum(n406) == 1 and len(secs) == 10,
          'rates: 100 requests over 10 s, 9 failed, one 406', (req, failed, n406))
    steps = timeline.coordinator_steps(os.path.join(d, 'coordinator.jsonl'))
    check([(s[2], s[3], s[1] - s[0]) for s in steps] ==
          [('node1', 'preflight', 1), ('node1', 'drain', 2), ('node1', 'upgrade', 3),
           ('node1', 'wait-up', 2)], 'coordinator steps as bands with their durations', steps)

    out = os.path.join(d, 'x.png')
    r = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), 'timeline.py'), d,
                        '-o', out], capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, 'timeline.py exits 0', r.stderr[-500:])
    with open(out, 'rb') as f:
        head = f.read(24)
    w, h = struct.unpack('>II', head[16:24])
    check(head[:8] == b'\x89PNG\r\n\x1a\n' and (w, h) == (640, 360), 'a 640x360 PNG', (head[:8], w, h))
    r = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), 'timeline.py'),
                        tempdir('zdu-timeline-empty-')], capture_output=True, text=True, timeout=120)
    check(r.returncode != 0 and 'nothing to draw' in r.stderr, 'an empty directory: a clear error',
          r.stderr)


if __name__ == '__main__':
    main(test)
