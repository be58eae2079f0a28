#!/usr/bin/python3
"""`zdu-agent --maintenance on --wait S` returns only once the node is drained: no connection
to the API port (drain.ports) for drain.settle_ms after the flag.

  1. A client holds a connection to the API port: `--wait 10` does not return while it is
     open; once it closes, it returns 0 ("drained"), and not before close + settle_ms.
  2. The connection held throughout: `--wait 2` exits 3 after about 2 s, saying the node stays
     in maintenance; the flag stays set.
  3. A connection that closes by itself 3 s after the drain (as HAProxy's idle server
     connections do) delays drained until close + settle_ms, but does not prevent it."""
import socket
import subprocess
import threading
import time

from agentlib import Agent, agent_binary, check, main
from testutil import wait_until, HoldingListener as Api

SETTLE_MS = 1500


def start_wait(a, seconds):
    argv = [agent_binary(), '--config', a.cfg_path, '--maintenance', 'on', '--reason', 'upgrade',
            '--wait', str(seconds)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)


def finish(p, timeout):
    out, err = p.communicate(timeout=timeout)
    print('exit %s; stdout %r; stderr %r' % (p.returncode, out, err))
    return p.returncode, out, err


def wait_counted(a, n):
    wait_until(lambda: a.status()['drain']['connections'] == n, timeout=10,
               message=lambda: 'agent counts %d connection(s): %r' % (n, a.status()['drain']))


def flag_off(a):
    r = a.cli('--maintenance', 'off')
    check(r.returncode == 0, 'maintenance off', r)
    wait_until(lambda: not a.status()['drained'], timeout=5)


def run():
    api = Api()
    settings = {'drain': {'ports': [api.port], 'settle_ms': SETTLE_MS, 'interval_ms': 100}}
    with Agent(settings=settings) as a:
        # 1. held, then closed
        client = socket.create_connection((api.addr, api.port), timeout=5)
        wait_counted(a, 1)
        p = start_wait(a, 10)
        wait_until(lambda: a.status()['flag']['active'], timeout=10, message='flag set by the CLI')
        # The CLI can only return 'drained' through count 0 for settle_ms: give it time to
        # (wrongly) return while the connection is held.
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.05)
        check(p.poll() is None, 'held connection: --wait 10 has not returned after 2 s')
        st = a.status()['drain']
        check(st['connections'] == 1 and not st['drained'], 'status: 1 connection, not drained', st)
        t_close = time.monotonic()
        client.close()
        rc, out, err = finish(p, 30)
        waited = time.monotonic() - t_close
        print('returned %.2fs after the close (settle_ms %d)' % (waited, SETTLE_MS))
        check(rc == 0 and 'drained' in out, 'after the close: exit 0, "drained"', (rc, out, err))
        check(waited >= SETTLE_MS / 1000.0 - 0.05, 'not before close + settle_ms (%.2fs)' % waited)
        check(a.status()['drained'], 'status: drained')
        flag_off(a)

        # 2. held throughout: --wait 2 times out
        client = socket.create_connection((api.addr, api.port), timeout=5)
        wait_counted(a, 1)
        t0 = time.monotonic()
        p = start_wait(a, 2)
        rc, out, err = finish(p, 30)
        took = time.monotonic() - t0
        print('--wait 2 took %.2fs' % took)
        check(rc == 3, 'held connection: --wait 2 exits 3', (rc, err))
        check('not drained after 2 s' in err and 'stays in maintenance' in err,
              'it says the node is not drained and stays in maintenance', err)
        check(took >= 2.0 - 0.05, 'it waited the 2 s (%.2fs)' % took)
        st = a.status()
        check(st['flag']['active'] and st['flag']['mode'] == 'drain', 'the flag stays set', st['flag'])
        check(a.reply().startswith('up drain'), 'the agent still replies drain', a.reply())
        client.close()
        flag_off(a)

        # 3. a connection closing on its own 3 s after the drain
        client = socket.create_connection((api.addr, api.port), timeout=5)
        wait_counted(a, 1)
        closed = {}

        def late_close():
            wait_until(lambda: a.status()['flag']['active'], timeout=10)
            time.sleep(3.0)     # the scenario: an idle connection that lingers 3 s
            closed['t'] = time.monotonic()
            client.close()
        th = threading.Thread(target=late_close)
        t0 = time.monotonic()
        p = start_wait(a, 15)
        th.start()
        rc, out, err = finish(p, 40)
        th.join()
        t_end = time.monotonic()
        check(rc == 0 and 'drained' in out, 'late close: exit 0, drained', (rc, out, err))
        check('t' in closed, 'the connection was closed by the scenario')
        after = t_end - closed['t']
        print('late close: drained %.2fs after the start, %.2fs after the close' % (t_end - t0, after))
        check(after >= SETTLE_MS / 1000.0 - 0.05, 'drained not before close + settle_ms (%.2fs)'
              % after)
        flag_off(a)
    api.close()


if __name__ == '__main__':
    main(run)
