#!/usr/bin/python3
"""Control-socket slots are never lost: a client that is gone gives its slot back at once,
every request is answered within its bound, and a failing connection count is an answer.

  1. 16 clients (control.max_clients) send `wait-drained 86400000` and hang up: a 17th was
     refused ("busy") while they waited, and once they are gone `--status` answers within 1 s.
  2. A half-closing client (socat's shutdown(SHUT_WR)) still gets its answer.
  3. 16 half-closed waiters, then killed: their slots come back within 1 s.
  4. Ctrl-C on `zdu-agent --maintenance on --wait 3600` (a node that will not drain): the
     slot comes back, the flag stays.
  5. The connection count fails (recv on the netlink socket: ENOBUFS, injected with
     LD_PRELOAD of tests/lib/fault_netlink.c): 32 `--status` in a row each answer within 1 s,
     naming the failure; none says "busy"; no slot is left held.
  6. The count never answers (sendto swallowed): `status` is answered with an error at its
     bound, control.timeout_ms, and the next one too.
"""
import json
import os
import signal
import socket
import subprocess
import time

from agentlib import Agent, agent_binary, check, main
from testutil import wait_until

FAULT_LIB = os.environ.get('ZDU_FAULT_NETLINK_LIB', '')
MAX_CLIENTS = 16


class Api:
    """A listener playing the API, with one connection held open to it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.client = None

    def hold(self):
        self.client = socket.create_connection(('127.0.0.1', self.port), timeout=5)
        self.server, _ = self.sock.accept()


def ctl(a, request):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(a.sock_path)
    s.sendall(request.encode() + b'\n')
    return s


def read_answer(s):
    data = b''
    while not data.endswith(b'\n'):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return json.loads(data.decode()) if data.strip() else None


def fill_with_waiters(a, half_close):
    socks = []
    for _ in range(MAX_CLIENTS):
        s = ctl(a, 'wait-drained 86400000')
        if half_close:
            s.shutdown(socket.SHUT_WR)
        socks.append(s)
    # A 17th is turned away at once, before it says anything: the 16 hold every slot.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(a.sock_path)
    extra = read_answer(s)
    s.close()
    check(extra and not extra['ok'] and 'busy' in extra['error'],
          '%d waiters hold every slot: another client is refused as busy' % MAX_CLIENTS, extra)
    return socks


def status_after_hangup(a, what):
    """`--status` must answer, and every slot but its own be free, within 1 s of the hang-ups
    (a half-closed client is seen gone by a check every 200 ms, so slots come back in steps)."""
    t0 = time.monotonic()
    answered = None
    clients = None
    while time.monotonic() - t0 < 1.0:
        r = a.cli('--status', '--json', timeout=5)
        if r.returncode == 0:
            answered = answered or time.monotonic() - t0
            clients = json.loads(r.stdout)['control']['clients']
            if clients == 1:
                break
    took = time.monotonic() - t0
    print('%s: --status first answered after %s s, all slots free after %.3f s'
          % (what, answered and '%.3f' % answered, took))
    check(answered is not None, '%s: --status answers within 1 s' % what, (r.stdout, r.stderr))
    check(clients == 1, '%s: within 1 s no slot is left held (only the status client)' % what,
          clients)


def hangups(a):
    socks = fill_with_waiters(a, half_close=False)
    for s in socks:
        s.close()
    status_after_hangup(a, '16 waiters hung up')


def half_close_still_answered(a):
    s = ctl(a, 'wait-drained 300')
    s.shutdown(socket.SHUT_WR)
    t0 = time.monotonic()
    ans = read_answer(s)
    took = time.monotonic() - t0
    check(ans is not None and ans['ok'] and ans['drained'] is False and took >= 0.25,
          'a half-closed client gets its wait-drained answer at its time (%.3f s)' % took, ans)
    s.close()


def half_closed_then_killed(a):
    socks = fill_with_waiters(a, half_close=True)
    for s in socks:
        s.close()
    status_after_hangup(a, '16 half-closed waiters killed')


def cli_interrupted(a, api):
    api.hold()
    wait_until(lambda: a.status()['drain']['connections'] == 1, timeout=10,
               message=lambda: 'agent counts the held connection: %r' % a.status()['drain'])
    p = subprocess.Popen([agent_binary(), '--config', a.cfg_path, '--maintenance', 'on', '--reason',
                          'kernel', '--wait', '3600'], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    wait_until(lambda: a.status()['control']['clients'] == 2, timeout=10,
               message=lambda: 'the CLI waits on the control socket: %r' % a.status()['control'])
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=10)
    t0 = time.monotonic()
    clients = a.status()['control']['clients']
    while clients != 1 and time.monotonic() - t0 < 1.0:
        clients = a.status()['control']['clients']
    took = time.monotonic() - t0
    check(clients == 1, 'Ctrl-C on --maintenance on --wait 3600: its slot comes back within 1 s '
          '(%.3f s)' % took, clients)
    st = a.status()
    check(st['flag']['active'] and st['flag']['reason'] == 'kernel',
          'the flag set by the interrupted CLI stays', st['flag'])
    a.cli('--maintenance', 'off')


def count_fails():
    api = Api()
    env = {'LD_PRELOAD': FAULT_LIB, 'ZDU_FAULT_NETLINK': 'enobufs',
           'ASAN_OPTIONS': os.environ.get('ASAN_OPTIONS', '') + ':verify_asan_link_order=0'}
    with Agent(settings={'drain': {'ports': [api.port]}}, env=env, name='enobufs') as a:
        worst = 0.0
        for i in range(32):
            t0 = time.monotonic()
            r = a.cli('--status', timeout=10)
            took = time.monotonic() - t0
            worst = max(worst, took)
            text = r.stdout + r.stderr
            if i == 0:
                print(text)
            check(r.returncode == 0 and 'connection count failed' in text and
                  'No buffer space available' in text and took < 1.0,
                  'status %d with the count failing: answered in %.3f s, naming the failure'
                  % (i + 1, took), text)
            check('busy' not in text, 'status %d: never "busy"' % (i + 1), text)
        print('32 statuses with the count failing: slowest %.3f s' % worst)
        st = a.status()
        check(st['control']['clients'] == 1 and st['control']['refused'] == 0,
              'no slot held after 32 failed counts, nobody refused', st['control'])


def count_never_answers():
    api = Api()
    env = {'LD_PRELOAD': FAULT_LIB, 'ZDU_FAULT_NETLINK': 'silent',
           'ASAN_OPTIONS': os.environ.get('ASAN_OPTIONS', '') + ':verify_asan_link_order=0'}
    settings = {'drain': {'ports': [api.port]}, 'control': {'timeout_ms': 300}}
    with Agent(settings=settings, env=env, name='silent') as a:
        for i in range(2):
            t0 = time.monotonic()
            ans = read_answer(ctl(a, 'status'))
            took = time.monotonic() - t0
            check(ans and not ans['ok'] and 'no answer within 300 ms' in ans['error'] and took < 1.0,
                  'status %d while the count never ends: an error at its bound (%.3f s)'
                  % (i + 1, took), ans)
        st = a.control('ping')
        check(st['ok'], 'the daemon still answers', st)
        a.wait_log('no answer within 300 ms')


def run():
    check(os.path.exists(FAULT_LIB), 'fault-injection shim built', FAULT_LIB)
    api = Api()
    with Agent(settings={'drain': {'ports': [api.port], 'interval_ms': 100}}) as a:
        hangups(a)
        half_close_still_answered(a)
        half_closed_then_killed(a)
        cli_interrupted(a, api)
    count_fails()
    count_never_answers()


if __name__ == '__main__':
    main(run)
