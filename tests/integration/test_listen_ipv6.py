#!/usr/bin/python3
"""agent.listen with an IPv4 and an IPv6 address on the same port.

agent.listen = [ "127.0.0.1:P", "[::1]:P" ]: both bind (the IPv6 socket is IPV6_V6ONLY,
so it does not take the IPv4 port), both answer the same reply line, and a maintenance
flag set and cleared with the CLI is seen on both. Exit 77 (skipped) only when ::1 is
not configured on this machine.
"""

import socket
import sys
import time

from agentlib import Agent, AgentExited, check, check_within, main
from probelib import stop_clean
from testutil import tempdir


def ipv6_loopback_missing():
    """None if ::1 can be bound, else why not."""
    if not socket.has_ipv6:
        return 'Python has no IPv6 support'
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(('::1', 0))
    except OSError as e:
        return 'cannot bind [::1]:0: %s' % e
    return None


def port_free_on_both():
    """A port free on 127.0.0.1 and ::1 at the time of the call."""
    for _ in range(50):
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s6:
            s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s6.bind(('::1', 0))
            port = s6.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s4:
                    s4.bind(('127.0.0.1', port))
            except OSError:
                continue
            return port
    raise RuntimeError('no port free on both 127.0.0.1 and ::1')


def reply6(port, timeout=2.0):
    """One agent-check connection to [::1]:PORT; the reply line without its newline."""
    chunks = []
    deadline = time.monotonic() + timeout
    with socket.create_connection(('::1', port), timeout=timeout) as s:
        while True:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            d = s.recv(65536)
            if not d:
                break
            chunks.append(d)
    text = b''.join(chunks).decode('utf-8', 'replace')
    if not text.endswith('\n') or text.count('\n') != 1:
        raise AssertionError('[::1] reply is not one line ending in a newline: %r' % (text,))
    return text[:-1]


def both(a):
    return a.reply(), reply6(a.port)


def start_agent(wd):
    last = None
    for attempt in range(5):
        port = port_free_on_both()
        a = Agent(workdir=wd, port=port, name='ipv6-%d' % attempt, start=False,
                  settings={'agent': {'listen': ['127.0.0.1:%d' % port, '[::1]:%d' % port]}})
        try:
            a.start()
            return a
        except AgentExited as e:   # the port was taken meanwhile
            last = e
            if 'cannot listen on' not in str(e):
                raise
    raise last


def run():
    wd = tempdir('zdu-it-ipv6-')
    a = start_agent(wd)
    try:
        log = a.log_text()
        for addr in ('127.0.0.1:%d' % a.port, '[::1]:%d' % a.port):
            check('answering agent checks on %s' % addr in log, 'log: answering on %s' % addr)
        r4, r6 = both(a)
        check(r4 == 'up ready 100%', '127.0.0.1 answers up ready 100%', r4)
        check(r6 == r4, '[::1] answers the same reply', (r4, r6))

        r = a.cli('--maintenance', 'on', '--reason', 'ipv6 check')
        check(r.returncode == 0, 'CLI --maintenance on exits 0', r)
        want = 'up drain #maintenance: ipv6 check'
        check_within(lambda: both(a) == (want, want), 5, 'flag set: both addresses reply %r' % want,
                     detail=lambda: 'now %r' % (both(a),), interval=0.01)

        r = a.cli('--maintenance', 'off')
        check(r.returncode == 0, 'CLI --maintenance off exits 0', r)
        check_within(lambda: both(a) == ('up ready 100%', 'up ready 100%'), 5,
                     'flag cleared: both addresses reply up ready 100%',
                     detail=lambda: 'now %r' % (both(a),), interval=0.01)

        rounds = [both(a) for _ in range(20)]
        differ = [(i, r) for i, r in enumerate(rounds) if r != ('up ready 100%', 'up ready 100%')]
        check(not differ, '20 more probes on each address: identical replies',
              '(round, (IPv4, IPv6 reply)): %r' % differ[:3])
        st = a.status()
        check(st.get('reply') == 'up ready 100%', 'status reply agrees', st.get('reply'))
        stop_clean(a)
    finally:
        a.stop()


if __name__ == '__main__':
    why = ipv6_loopback_missing()
    if why:
        print('SKIP: ::1 is not configured on this machine (%s)' % why, flush=True)
        sys.exit(77)
    main(run)
