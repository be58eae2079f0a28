#!/usr/bin/python3
"""strategy = "cutover" with HAProxy in mode tcp: a client connection through lb1's frontend
to an old-group node (node2) outlives the switch, since in mode tcp only new connections are
balanced.

With cutover.tcp_grace_ms = 500 the connection stays open through the switch and for the
grace period, then HAProxy closes it (the coordinator's `shutdown sessions server`, reported
as "grace period over"), and the rollout completes.

Without tcp_grace_ms the coordinator leaves the session alone: node2's drain then waits for it
and times out (drain_ms 3 s: exit 3) while the connection still works and is still answered by
the old release (a request sent on it after the exit gets nova-api 2.90). Once the client
closes, --resume completes."""
import socket
import threading
import time

from agentlib import check, main
from clusterlib import Cluster
from cutoverlib import Coord, event_epoch, is_switch
from testutil import free_port, wait_until


class Held(threading.Thread):
    """A client connection through the frontend, read until EOF by a thread."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=5)
        self.sock.settimeout(120)
        self.data = b''
        self.closed_at = None
        self.error = None
        self.start()

    def run(self):
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                self.data += chunk
        except OSError as e:
            self.error = e
        self.closed_at = time.time()

    def open(self):
        return self.closed_at is None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        self.join(5)


def hold_on(cl, port, name):
    """Open frontend connections until one lands on NAME (roundrobin); close the others."""
    lb = cl.lbs[0]
    for _ in range(6):
        before = {n['name']: int(lb.server(n['name'])['stot'] or 0) for n in cl.nodes}
        h = Held(port)
        got = wait_until(lambda: [n for n in before if int(lb.server(n)['stot'] or 0) > before[n]],
                         timeout=5, message='the frontend connection reaches a server')
        if got == [name]:
            wait_until(lambda: lb.server(name)['scur'] == '1', timeout=5)
            return h
        h.close()
    raise AssertionError('no frontend connection landed on %s' % name)


def cluster(port):
    return Cluster(nodes=3, lbs=2, lb_mode='tcp',
                   lb_kwargs=lambda j: dict(frontend=('127.0.0.1', port)) if j == 0 else {})


def start_and_hold(cl, port, extra, **plan_kw):
    mapfile, record = cl.upgrade_map()
    plan = cl.write_plan(cl.upgrade_command(mapfile), expect_version='2.93', extra=extra, **plan_kw)
    co = Coord(cl, '--plan', plan)
    # Once node1 (first group) is out, connect: the connection goes to the old group.
    co.wait_event(lambda e: e['node'] == 'node1' and e['step'] == 'drain' and e['event'] == 'ok')
    for lb in cl.lbs:
        lb.wait_server('node1', lambda row: 'DRAIN' in row['status'], timeout=10)
    h = hold_on(cl, port, 'node2')
    check(h.open(), 'a client holds a connection through lb1 to node2 (old group)')
    return co, plan, h


def with_grace():
    port = free_port('127.0.0.1')
    with cluster(port) as cl:
        co, plan, h = start_and_hold(cl, port, 'strategy = "cutover"; cutover: { tcp_grace_ms = 500; };')
        done = co.wait_event(is_switch('switch done'), timeout=90)
        grace = co.wait_event(lambda e: e.get('step') == 'switch' and 'tcp_grace_ms' in e['message'],
                              timeout=10)
        print(grace['message'])
        over = co.wait_event(is_switch('grace period over', 'start'), timeout=30)
        check('shutdown sessions server nova-api/node2' in over['message']
              and 'shutdown sessions server nova-api/node3' in over['message']
              and 'node1' not in over['message'], 'sessions of the old group only: %s' % over['message'])
        wait_until(lambda: not h.open(), timeout=10, message='the connection closed by HAProxy')
        # Times from the coordinator's events (same clock, ms): each is logged before acting.
        held = h.closed_at - event_epoch(done)
        check(held >= 0.49, 'the connection survived the switch for the grace period (closed %.3f s '
              'after "switch done")' % held)
        after = h.closed_at - event_epoch(over)
        check(-0.002 <= after < 5, 'closed when the grace period ended (%.3f s after "grace period '
              'over")' % after)
        check(h.data == b'', 'closed by HAProxy without an answer from the node', h.data[:200])
        rc = co.wait(timeout=120)
        print(co.text()[-3000:])
        check(rc == 0, 'the rollout completes', rc)
        cl.wait_all_up(timeout=10)
        h.close()


def without_grace():
    port = free_port('127.0.0.1')
    with cluster(port) as cl:
        co, plan, h = start_and_hold(cl, port, 'strategy = "cutover";', timeouts=dict(drain_ms=3000))
        rc = co.wait(timeout=120)
        print(co.text()[-3000:])
        check(co.find(is_switch('switch done')) is not None, 'the switch was done')
        check(co.find(lambda e: 'grace period' in e['message'] or 'tcp_grace_ms' in e['message']) is None,
              'no grace period, no session shut down')
        check(rc == 3, 'exit 3: node2 never drained', rc)
        fail = co.find(lambda e: e['event'] == 'fail')
        check(fail['node'] == 'node2' and fail['step'] == 'wait-drained' and 'scur=1' in fail['message'],
              'node2 still has its session: %s' % fail['message'])
        check(h.open(), 'the connection is still open')
        for lb in cl.lbs:
            check('DRAIN' in lb.server('node2')['status'], '%s: node2 DRAIN' % lb.name)
        h.sock.sendall(b'GET /v2.1/ HTTP/1.0\r\nHost: nova\r\n\r\n')
        wait_until(lambda: not h.open(), timeout=10, message='the answer on the held connection')
        check(b' 200 ' in h.data.split(b'\r\n')[0] and b'"2.90"' in h.data,
              'the old session is still answered, by the old release (2.90)', h.data[:300])
        h.close()
        r = Coord(cl, '--plan', plan, '--resume')
        rc = r.wait(timeout=120)
        print(r.text()[-2000:])
        check(rc == 0, 'with the client gone, --resume completes', rc)
        cl.wait_all_up(timeout=10)


def run():
    with_grace()
    without_grace()


if __name__ == '__main__':
    main(run)
