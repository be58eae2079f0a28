#!/usr/bin/python3
"""The agent's connection count (status drain.connections, from the kernel's sock_diag) is the
number of connections actually open to the API port.

  1. 0, then 5, then 20 client connections, then all closed: the count follows exactly (the
     server side of each; the client sides, whose remote port is the API port, do not count);
     connections to another port never count.
  2. drain.from = [ "127.0.0.5" ]: of 4 clients bound to 127.0.0.5 and 7 bound to 127.0.0.6,
     only the 4 count.
  3. drain.idle_ms = 800: of 3 connections, the one that keeps exchanging data counts; the
     two quiet ones move to drain.idle once quiet for 800 ms, and back when they talk.
  4. drain.report_interval_ms = 1000 (interval_ms 100): once drained under a flag the count's
     age (drain.sample_age_ms) grows to most of a second; a connection opened then is seen within
     1.6 s and brings the 100 ms counts back. The control, 0: the age stays within 400 ms.
  5. No flag: --status counts now, except within drain.report_interval_ms (default 1 s) of the
     last count: two requests 0.5 s apart see the same count, one 1.2 s later a new one; the
     control, report_interval_ms 0, counts at every request (interval_ms 100)."""
import socket
import threading
import time

from agentlib import Agent, check, check_within, cli_expect, main
from testutil import wait_until


class Api:
    """A listener that accepts, echoes what it reads, and closes when its client does."""

    def __init__(self, addr='127.0.0.1'):
        self.sock = socket.socket()
        self.sock.bind((addr, 0))
        self.sock.listen(128)
        self.addr, self.port = self.sock.getsockname()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(c,), daemon=True).start()

    def _echo(self, c):
        with c:
            while True:
                try:
                    d = c.recv(4096)
                except OSError:
                    return
                if not d:
                    return
                c.sendall(d)

    def close(self):
        self.sock.close()


def connect(api, n, source=None):
    out = []
    for _ in range(n):
        s = socket.socket()
        if source:
            s.bind((source, 0))
        s.settimeout(5)
        s.connect((api.addr, api.port))
        out.append(s)
    return out


def close_all(conns):
    for s in conns:
        s.close()
    del conns[:]


def counts(a, connections, idle=None, timeout=10):
    def ok():
        d = a.status()['drain']
        return d['known'] and d['connections'] == connections and (idle is None or d['idle'] == idle)
    wait_until(ok, timeout=timeout, interval=0.05,
               message=lambda: 'drain.connections %d%s: %r' % (
                   connections, '' if idle is None else ', idle %d' % idle, a.status()['drain']))
    # and it stays so (a few counts later)
    first = a.status()['drain']['connections']
    time.sleep(0.3)
    again = a.status()['drain']
    check(first == connections and again['connections'] == connections,
          'drain.connections == %d%s' % (connections, '' if idle is None else
                                          ' and drain.idle == %d' % again['idle']), again)
    if idle is not None:
        check(again['idle'] == idle, 'drain.idle == %d' % idle, again)


def run():
    api, other = Api(), Api()
    base = {'ports': [api.port], 'interval_ms': 100, 'settle_ms': 500}

    # 1. exact count
    with Agent(settings={'drain': dict(base)}, name='count') as a:
        counts(a, 0)
        conns = connect(api, 5)
        noise = connect(other, 3)        # another port: never counted
        counts(a, 5)
        conns += connect(api, 15)
        counts(a, 20)
        close_all(conns)
        counts(a, 0)
        close_all(noise)
        # quiet_ms: 0 without a flag; with one, how long the count has stayed 0, from the
        # first count after the flag; sample_age_ms: how old the last count is (the
        # coordinator's early end of wait-drained reads both)
        st = a.status()['drain']
        check(st['quiet_ms'] == 0 and 0 <= st['sample_age_ms'] <= 1000, 'no flag: quiet_ms 0, a fresh count', st)
        cli_expect(a, '--maintenance', 'on')
        check_within(lambda: a.status()['drain']['quiet_ms'] >= 300, 3, 'flagged, nothing connected: quiet_ms grows',
                     lambda: a.status()['drain'])
        held = connect(api, 1)
        counts(a, 1)
        st = a.status()['drain']
        check(st['quiet_ms'] == 0 and st['sample_age_ms'] <= 1000, 'a connection: quiet_ms back to 0', st)
        close_all(held)

    # 2. drain.from
    with Agent(settings={'drain': dict(base, **{'from': ['127.0.0.5']})}, name='from') as a:
        counts(a, 0)
        five = connect(api, 4, source='127.0.0.5')
        six = connect(api, 7, source='127.0.0.6')
        counts(a, 4)
        close_all(five)
        counts(a, 0)
        close_all(six)
        st = a.status()['drain']
        check(st['connections'] == 0 and st['idle'] == 0, 'nothing counted once closed', st)

    # 3. drain.idle_ms
    with Agent(settings={'drain': dict(base, idle_ms=800)}, name='idle') as a:
        conns = connect(api, 3)
        for s in conns:                  # everyone says something once
            s.sendall(b'x')
            s.recv(1)
        stop = threading.Event()

        def chatter():
            while not stop.is_set():
                try:
                    conns[0].sendall(b'y')
                    conns[0].recv(1)
                except OSError:
                    return
                stop.wait(0.1)
        th = threading.Thread(target=chatter, daemon=True)
        th.start()
        counts(a, 1, idle=2)
        stop.set()
        th.join()
        # the chatty one falls quiet too
        counts(a, 0, idle=3)
        # a quiet one talks again: it counts again (talking until the agent has seen it)
        def talks_and_counts():
            conns[1].sendall(b'z')
            conns[1].recv(1)
            return a.status()['drain']['connections'] == 1
        check_within(talks_and_counts, 10, 'a quiet connection that talks again counts again',
                     detail=lambda: a.status()['drain'], interval=0.1)
        close_all(conns)
        counts(a, 0, idle=0)

    # 4. drain.report_interval_ms: once drained, a count a second instead of every 100 ms,
    # until a connection is seen again; the control (0) keeps counting every 100 ms
    for drained_iv in (1000, 0):
        with Agent(settings={'drain': dict(base, report_interval_ms=drained_iv)},
                   name='drained%d' % drained_iv) as a:
            cli_expect(a, '--maintenance', 'on')
            wait_until(lambda: a.status()['drain']['drained'], timeout=10, interval=0.05,
                       message=lambda: 'drained: %r' % a.status()['drain'])
            ages = sample_ages(a, 2.5)
            print('report_interval_ms %d, drained: sample_age_ms up to %d' % (drained_iv, max(ages)))
            if drained_iv:
                check(max(ages) >= 700, 'drained: counts a second apart', ages)
                t = time.monotonic()
                held = connect(api, 1)
                wait_until(lambda: a.status()['drain']['connections'] == 1, timeout=5, interval=0.05,
                           message=lambda: 'the connection seen: %r' % a.status()['drain'])
                seen = time.monotonic() - t
                print('a connection while drained: seen in %.2f s' % seen)
                check(seen <= 1.6, 'a connection while drained: seen within the slower interval', seen)
                check(not a.status()['drain']['drained'], 'not drained any more', a.status()['drain'])
                ages = sample_ages(a, 1.5)
                check(max(ages) <= 400, 'a connection again: counts every interval_ms again', ages)
                close_all(held)
            else:
                check(max(ages) <= 400, 'report_interval_ms 0 (the control): every interval_ms', ages)

    # 5. no flag: --status counts now, unless the last count is younger than
    # drain.report_interval_ms (1 s by default; interval_ms 100): two status requests 0.5 s apart
    # answer with the same count, one 1.2 s later with a new one. The control, 0: interval_ms.
    for report in (None, 0):
        drain = dict(base) if report is None else dict(base, report_interval_ms=report)
        with Agent(settings={'drain': drain}, name='fresh%s' % report) as a:
            a.status()
            time.sleep(1.2)
            first = a.status()['drain']['sample_age_ms']
            time.sleep(0.5)
            second = a.status()['drain']['sample_age_ms']
            time.sleep(1.2)
            third = a.status()['drain']['sample_age_ms']
            print('no flag, report_interval_ms %s: sample_age_ms %d, 0.5 s later %d, 1.2 s later %d'
                  % ('default' if report is None else report, first, second, third))
            check(first <= 200, 'a status request a while after the last count: counted now', first)
            check(third <= 200, 'one 1.2 s later: counted now', third)
            if report is None:
                check(second >= 450, 'one 0.5 s later: the same count, not a new one', second)
            else:
                check(second <= 200, 'report_interval_ms 0 (the control): counted now', second)
    api.close()
    other.close()


def sample_ages(a, seconds):
    """drain.sample_age_ms read every 50 ms for SECONDS."""
    out, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        out.append(a.status()['drain']['sample_age_ms'])
        time.sleep(0.05)
    return out


if __name__ == '__main__':
    main(run)
