#!/usr/bin/python3
"""What agent-check peers send, or do not send, never delays or costs a reply.

  * a client that connects and sends nothing gets the reply and the end of stream at once;
  * a client sending an agent-send string ('hello\\n') gets the same reply;
  * a client sending more than max_request_bytes gets its reply and is disconnected (long
    before connection_timeout_ms); the 'oversized' counter says so;
  * binary garbage (under the limit) is tolerated;
  * 200 idle connections held open with max_connections=50: every one got its reply at once,
    a new probe still gets its reply at once, at most 50 are held (the oldest were evicted),
    and the daemon's RSS stays bounded;
  * with connection_timeout_ms=300, idle held connections are closed by the agent (the
    agent's current count drops to 0 and the client sees its socket closed).
"""

import os
import socket
import statistics
import time

from agentlib import Agent, check, check_within, main
from testutil import wait_until

READY = b'up ready 100%\n'
AT_ONCE_S = 0.05


def read_reply(s, timeout=2.0):
    """Read until EOF (the agent shuts its side down after the reply)."""
    s.settimeout(timeout)
    buf = b''
    while True:
        try:
            d = s.recv(4096)
        except ConnectionResetError:
            return buf, 'reset'
        if not d:
            return buf, 'eof'
        buf += d


def probe_stats(agent, n=50, send=b''):
    times = []
    for _ in range(n):
        data, dt = agent.probe(send=send, timeout=2)
        if data != READY:
            raise AssertionError('reply %r, want %r' % (data, READY))
        times.append(dt)
    return times


def run():
    # ------------------------------------------------------------ plain / agent-send / garbage
    settings = {'agent': {'max_connections': 50, 'connection_timeout_ms': 60000,
                          'max_request_bytes': 1024}}
    with Agent(settings=settings) as agent:
        t = probe_stats(agent)
        print('timing: silent client, connect to EOF: median %.2f ms, max %.2f ms (n=%d)'
              % (statistics.median(t) * 1000, max(t) * 1000, len(t)), flush=True)
        check(statistics.median(t) < AT_ONCE_S, 'silent client: reply + EOF at once (median < 50 ms)')
        check(max(t) < 1.0, 'silent client: no probe slower than 1 s', max(t))

        t = probe_stats(agent, send=b'hello\n')
        check(statistics.median(t) < AT_ONCE_S, 'agent-send "hello\\n": same reply, at once')

        garbage = os.urandom(1000)
        replies = {agent.probe(send=garbage, timeout=2)[0] for _ in range(20)}
        check(replies == {READY}, 'binary garbage (1000 random bytes): same reply', replies)
        replies = {agent.probe(send=bytes(range(256)) * 4, timeout=2)[0] for _ in range(5)}
        check(replies == {READY}, 'all 256 byte values: same reply', replies)

        # ------------------------------------------------------------ oversized
        before = agent.status()['connections']['oversized']
        for i in range(5):
            s = socket.create_connection((agent.addr, agent.port), timeout=5)
            t0 = time.monotonic()
            try:
                s.sendall(b'x' * 8192)
            except (BrokenPipeError, ConnectionResetError):
                pass
            data, how = read_reply(s, timeout=5)
            dt = time.monotonic() - t0
            # The agent stops reading: its close is seen by the client as an EOF or a reset,
            # well before the 60 s connection timeout.
            if i == 0 or data != READY:
                print('oversized #%d: got %r, then %s after %.1f ms' % (i + 1, data, how, dt * 1000))
            check(data == READY, 'oversized client #%d still got its reply' % (i + 1), data)
            # The agent must have dropped the connection: a write after a short while fails.
            s.settimeout(2)
            closed = False
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                try:
                    s.sendall(b'y' * 1024)
                except OSError:
                    closed = True
                    break
                time.sleep(0.01)
            s.close()
            check(closed, 'oversized client #%d disconnected by the agent' % (i + 1))
        st = agent.status()['connections']
        check(st['oversized'] - before == 5, "agent counted 5 'oversized'", st)
        check(agent.reply() == READY.decode().strip(), 'agent still answers after oversized peers')

        # ------------------------------------------------------------ 200 idle connections
        rss0 = agent.rss_kb()
        held = []
        times = []
        for i in range(200):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(2)
            t0 = time.monotonic()
            s.connect((agent.addr, agent.port))
            buf = b''
            while not buf.endswith(b'\n'):
                d = s.recv(4096)
                if not d:
                    break
                buf += d
            times.append(time.monotonic() - t0)
            if buf != READY:
                raise AssertionError('idle connection #%d got %r' % (i + 1, buf))
            held.append(s)       # never closed by us: held by the agent until evicted
        print('timing: 200 idle connections, reply median %.2f ms, slowest %.2f ms'
              % (statistics.median(times) * 1000, max(times) * 1000))
        check(statistics.median(times) < AT_ONCE_S and max(times) < 1.0,
              'each of 200 held connections got its reply at once (median < 50 ms, max < 1 s)',
              (statistics.median(times), max(times)))
        t = probe_stats(agent, n=5)
        dt = statistics.median(t)
        print('timing: new probe with 200 idle connections open: median %.2f ms' % (dt * 1000))
        check(dt < AT_ONCE_S, 'new probes get their reply at once (median of 5 < 50 ms)', t)
        st = agent.status()['connections']
        check(st['current'] <= 50, 'at most max_connections=50 held', st)
        check(st['evicted'] >= 150, 'the oldest ones were evicted (>= 150)', st)
        rss1 = agent.rss_kb()
        # More rounds of 200: memory must not grow with the number of connections served.
        for _ in range(3):
            for s in held:
                s.close()
            held = []
            for i in range(200):
                s = socket.create_connection((agent.addr, agent.port), timeout=2)
                held.append(s)
        t = probe_stats(agent, n=5)
        check(statistics.median(t) < AT_ONCE_S, 'new probes after 800 idle connections: at once',
              t)
        rss2 = agent.rss_kb()
        print('RSS: %d kB before, %d kB with 200 idle, %d kB after 800 more' % (rss0, rss1, rss2))
        check(rss2 - rss0 < 16 * 1024, 'RSS grew by less than 16 MiB', (rss0, rss1, rss2))
        check(rss2 - rss1 < 4 * 1024, 'RSS does not keep growing with connections served',
              (rss1, rss2))
        for s in held:
            s.close()
        check_within(lambda: agent.status()['connections']['current'] == 0, 5,
                     'all held connections released once the clients closed',
                     detail=lambda: agent.status()['connections'])
        rc = agent.stop()
        check(rc == 0, 'SIGTERM: exit 0', rc)

    # ------------------------------------------------------------ connection_timeout_ms
    settings = {'agent': {'connection_timeout_ms': 300, 'max_connections': 1000}}
    with Agent(settings=settings) as agent:
        held = []
        t0 = time.monotonic()
        for i in range(20):
            s = socket.create_connection((agent.addr, agent.port), timeout=2)
            held.append(s)
        check(agent.status()['connections']['current'] >= 1, 'idle connections are held')
        wait_until(lambda: agent.status()['connections']['current'] == 0, timeout=5, interval=0.01,
                   message='held connections closed by connection_timeout_ms=300')
        dt = time.monotonic() - t0
        print('timing: 20 idle connections closed by the agent %.0f ms after opening (timeout '
              '300 ms, sweep at 10%%)' % (dt * 1000))
        check(dt >= 0.29, 'not closed before the timeout', dt)
        check(dt < 2.0, 'closed within the timeout + slack', dt)
        st = agent.status()['connections']
        check(st['timed_out'] >= 20, "agent counted 20 'timed_out'", st)
        # Client side: the reply came, then the socket is dead (reset on write, or EOF).
        s = held[0]
        data, how = read_reply(s, timeout=2)
        check(data == READY, 'timed-out client had its reply', data)
        dead = False
        try:
            for _ in range(3):
                s.sendall(b'ping\n')
                time.sleep(0.02)
        except OSError:
            dead = True
        check(dead, 'timed-out connection is closed on the agent side (write fails)')
        for s in held:
            s.close()
        rc = agent.stop()
        check(rc == 0, 'SIGTERM: exit 0', rc)


if __name__ == '__main__':
    main(run)
