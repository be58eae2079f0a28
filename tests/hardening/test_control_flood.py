#!/usr/bin/python3
"""Control socket abuse never blocks another client.

The agent runs with control.timeout_ms = 1000 (default max_clients 16). Then:
  * a client that connects and never sends, a client that sends 1 MiB without a newline and a
    client that sends one byte every 50 ms (slow loris) are all connected at once; meanwhile
    `status` requests, one after the other for 3 s, are each answered in < 100 ms, and agent
    probes stay fast;
  * the 1 MiB client gets the 'request line over 1024 bytes' error (or a reset, having sent
    past it), the silent one and the slow loris get 'no request line in time' within
    timeout_ms (+ 500 ms): the timer runs from the connection, bytes do not extend it;
  * max_clients (16) silent clients: another client gets an immediate 'busy' answer (not a
    hang), the CLI exits 1 at once, and once the silent ones timed out, status answers again.
    Known bug (fixed; a regression check now): the CLI's message then is
    "send: Broken pipe" (agent/cli/cli.c:66, the answer already queued is not read) or, when the
    busy answer is read as the sync answer, 'the daemon reads flag mode ""' (agent/cli/cli.c:266,
    "ok": false not checked) instead of the daemon's "busy: too many control clients"; and
    `--status` may exit 0 printing an empty status ("maintenance: off", pid 0) from the busy
    answer (agent/cli/cli.c:175 checks only that an answer came, not its "ok").
"""

import json
import socket
import threading
import time

from agentlib import Agent
from hardlib import hard_main

TIMEOUT_MS = 1000
MAX_CLIENTS = 16


def timed_status(agent):
    t0 = time.monotonic()
    try:
        j = agent.control('status', timeout=2)
    except (OSError, ValueError) as e:
        return None, time.monotonic() - t0, repr(e)
    return j, time.monotonic() - t0, None


def read_answer(s, timeout):
    s.settimeout(timeout)
    buf = b''
    t0 = time.monotonic()
    try:
        while b'\n' not in buf:
            d = s.recv(65536)
            if not d:
                break
            buf += d
    except (socket.timeout, ConnectionResetError) as e:
        return buf, time.monotonic() - t0, repr(e)
    return buf, time.monotonic() - t0, None


def run(rows):
    agent = Agent(settings={'control': {'timeout_ms': TIMEOUT_MS, 'max_clients': MAX_CLIENTS}})
    agent.start()
    what = 'control socket abuse'

    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent.connect(agent.sock_path)
    t_silent = time.monotonic()

    big = {'sent': 0, 'err': None, 'answer': b''}

    def send_big():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(agent.sock_path)
        chunk = b'x' * 65536
        try:
            for _ in range(16):
                s.sendall(chunk)
                big['sent'] += len(chunk)
        except OSError as e:
            big['err'] = repr(e)
        big['answer'], _, _ = read_answer(s, 2)
        s.close()

    loris = {'sent': 0, 'answer': b'', 'after': None, 'err': None}

    def slow_loris():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(agent.sock_path)
        t0 = time.monotonic()
        s.setblocking(False)
        try:
            while time.monotonic() - t0 < 3.0:
                s.send(b's')
                loris['sent'] += 1
                time.sleep(0.05)
                try:
                    d = s.recv(65536)
                except BlockingIOError:
                    continue
                loris['answer'] += d
                if b'\n' in loris['answer'] or not d:
                    loris['after'] = time.monotonic() - t0
                    break
        except OSError as e:
            loris['err'] = repr(e)
            loris['after'] = time.monotonic() - t0
        s.close()

    quiet = {}

    def wait_silent():
        quiet['answer'], _, quiet['err'] = read_answer(silent, 5)
        quiet['after'] = time.monotonic() - t_silent

    threads = [threading.Thread(target=send_big), threading.Thread(target=slow_loris),
               threading.Thread(target=wait_silent)]
    for t in threads:
        t.start()
    lat, bad, probes = [], [], []
    t0 = time.monotonic()
    while time.monotonic() - t0 < 3.0:
        j, dt, err = timed_status(agent)
        lat.append(dt)
        if err or not j.get('ok') or dt >= 0.1:
            bad.append((dt, err, j and j.get('error')))
        _, pdt = agent.probe()
        probes.append(pdt)
    for t in threads:
        t.join()
    lat.sort()
    probes.sort()
    print('status during the abuse: %d requests, median %.2f ms, max %.2f ms; agent probes: '
          'max %.2f ms' % (len(lat), lat[len(lat) // 2] * 1e3, lat[-1] * 1e3, probes[-1] * 1e3),
          flush=True)
    rows.count(what, 'status answered in < 100 ms while a silent, a 1 MiB and a slow-loris '
               'client are connected', not bad, bad[:5], times=len(lat))
    rows.count(what, 'agent probes meanwhile answered in < 100 ms', probes[-1] < 0.1,
               probes[-1], times=len(probes))

    ans, waited, err = quiet['answer'], quiet['after'], quiet['err']
    print('silent client: %r after %.2f s (%s)' % (ans, waited, err), flush=True)
    try:
        j = json.loads(ans)
    except ValueError:
        j = {}
    rows.count(what, 'silent client: "no request line in time" after timeout_ms',
               j.get('error') == 'no request line in time' and waited < TIMEOUT_MS / 1000 + 0.5,
               (ans, waited))
    silent.close()
    print('1 MiB client: sent %d bytes (%s), answer %r' % (big['sent'], big['err'],
                                                           big['answer'][:100]), flush=True)
    rows.count(what, '1 MiB without a newline: refused ("request line over 1024 bytes" or a '
               'reset), never read whole', b'request line over 1024 bytes' in big['answer']
               or big['err'] is not None, big)
    print('slow loris: %d bytes sent, answer %r after %s s (%s)' % (
        loris['sent'], loris['answer'], loris['after'], loris['err']), flush=True)
    rows.count(what, 'slow loris (1 byte / 50 ms): cut at timeout_ms, bytes do not extend it',
               b'no request line in time' in loris['answer'] and loris['after'] is not None
               and loris['after'] < TIMEOUT_MS / 1000 + 0.5, loris)

    # max_clients silent clients.
    time.sleep(0.2)
    hogs = []
    for _ in range(MAX_CLIENTS):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(agent.sock_path)
        hogs.append(s)
    t_hogs = time.monotonic()
    time.sleep(0.1)
    # The agent answers "busy" at accept and closes: read without sending first (a client
    # that sends first may get EPIPE before it reads the answer, see the CLI checks below).
    t0 = time.monotonic()
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(agent.sock_path)
    ans, _, err = read_answer(c, 2)
    dt = time.monotonic() - t0
    c.close()
    print('with %d silent clients: another client reads %r in %.2f ms' % (MAX_CLIENTS, ans,
                                                                          dt * 1e3), flush=True)
    rows.count(what, 'max_clients silent clients: another client is refused at once ("busy"), '
               'not left hanging', b'busy: too many control clients' in ans and dt < 0.1,
               (ans, dt, err))
    # The CLI in the same situation: exit 1 at once; its message should say why.
    cli_bug = []
    for args in (('--status',), ('--maintenance', 'on', '--reason', 'busy test')):
        t0 = time.monotonic()
        r = agent.cli(*args)
        dt = time.monotonic() - t0
        print('CLI %s with the control socket full: exit %d in %.0f ms: %s' % (
            ' '.join(args), r.returncode, dt * 1e3, r.stderr.strip()), flush=True)
        rows.count(what, 'CLI with the control socket full: returns within 1 s (not left '
                   'hanging)', dt < 1.0, (r.returncode, dt, r.stderr))
        if r.returncode != 1 or 'busy' not in r.stderr:
            cli_bug.append('%s: exit %d: %s' % (' '.join(args), r.returncode,
                                                 (r.stderr.strip() or r.stdout.strip())[:160]))
    rows.count('CLI with the control socket full', 'exit 1, the error says the daemon is '
                   'busy (--status, --maintenance on)', not cli_bug, cli_bug)
    agent.remove_flag()
    for _ in range(100):
        j, dt, err = timed_status(agent)
        if j and j.get('ok'):
            break
        time.sleep(0.05)
    waited = time.monotonic() - t_hogs
    print('status answered again %.2f s after the silent clients connected' % waited, flush=True)
    rows.count(what, 'once the silent clients time out, status answers again',
               j is not None and j.get('ok') and waited < TIMEOUT_MS / 1000 + 1.0, (j, waited))
    for s in hogs:
        s.close()
    rc = agent.stop()
    rows.count(what, 'SIGTERM: exit 0', rc == 0, rc)


if __name__ == '__main__':
    hard_main(run)
