#!/usr/bin/python3
"""The wall clock jumps forward and back under a running agent: nothing but timestamps moves.

The agent runs under libfaketime (Debian's faketime package; exit 77 when it is missing)
with FAKETIME_DONT_FAKE_MONOTONIC=1, so that only CLOCK_REALTIME jumps, as when NTP or an
operator steps the clock; the offset is read from a file the test rewrites (cached for 1 s:
FAKETIME_NO_CACHE would read the file at every clock call, adding milliseconds to replies).
The CLI runs under the same faked clock.
A real HAProxy (agent-inter 200ms, not under faketime) probes the agent; the agent probes a
fake nova-api every 200 ms and holds unanswered connections for connection_timeout_ms 1000.
Phases: real time, +1 year, -10 years, back to real time. In each:
  * the agent's log shows the faked date (faketime is in effect);
  * HAProxy's agent_status stays L7OK in every sample, the server stays UP;
  * 200 probes one at a time (probe-bench): p99 < 5 ms, every reply
    'up ready 100% #nova-api 2.93';
  * nova-api is probed every 200 ms: 6..16 probes in 2 s (timers run on monotonic time);
  * a held connection is closed after 1.0 .. 1.6 s (the sweep runs on monotonic time);
  * `--maintenance on` reaches HAProxy within two agent intervals; the flag's since= (the
    faked date, informational) parses: no 'bad flag'; `off` brings the server back;
  * status uptime_s follows the real elapsed time, not the jumps.
A last phase starts an agent in a new time namespace (unshare --time) whose monotonic clock
is 10 years ahead: probes, the held-connection timeout and a flag flip behave the same.
"""

import datetime
import os
import re
import shutil
import signal
import socket
import subprocess
import time

from agentlib import Agent, agent_binary
from haproxy import HAProxy
from hardlib import Skip, hard_main, probe_latency, start_fake_nova
from testutil import HttpStub, Proc, tempdir

LIBS = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1',
        '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1']
INTER_MS = 200
UP = 'up ready 100% #nova-api 2.93'
LOG_TS = re.compile(r'^(\d{4}-\d\d-\d\d)T\d\d:\d\d:\d\d\.\d{3}Z ', re.M)


def held_connection_lifetime(addr, port, limit=3.0):
    """Open a connection, never close it; seconds until the agent closes its side (a byte
    sent then draws a reset)."""
    s = socket.create_connection((addr, port), timeout=2)
    t0 = time.monotonic()
    s.settimeout(0.05)
    try:
        while time.monotonic() - t0 < limit:
            try:
                s.send(b'x')
                s.recv(4096)      # the reply, then EOF (the agent half-closes at once)
            except socket.timeout:
                pass
            time.sleep(0.02)
    except (ConnectionResetError, BrokenPipeError):
        return time.monotonic() - t0
    finally:
        s.close()
    return None


def cli(agent, env, *args):
    return subprocess.run([agent_binary(), '--config', agent.cfg_path] + list(args),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, **env))


def phase(rows, name, agent, lb, offset_days, ran_since, fake_env):
    tag = 'wall clock jumps (4 phases: as is, +1 year, -10 years, back)'
    # faketime in effect: a log line written now carries the faked date.
    log0 = agent.log_size()
    agent.hup()
    agent.wait_log('configuration reloaded', start=log0)
    dates = LOG_TS.findall(agent.log_text()[log0:])
    want = (datetime.datetime.utcnow() + datetime.timedelta(days=offset_days)).date()
    got = datetime.date.fromisoformat(dates[-1]) if dates else None
    rows.count(tag, "the agent's log shows the faked date (faketime in effect)",
               got is not None and abs((got - want).days) <= 1, (name, got, want))

    samples, bad = 0, []
    p0 = agent.status()['probe']['probes']
    t0 = time.monotonic()
    lat = probe_latency(agent.addr, agent.port, 200, UP)
    for _ in range(4):
        row = lb.server('node1')
        samples += 1
        if row['agent_status'].lstrip('* ') != 'L7OK' or row['status'] != 'UP':
            bad.append((row['status'], row['agent_status'], row['last_agt']))
        time.sleep(0.05)
    life = held_connection_lifetime(agent.addr, agent.port)
    while time.monotonic() - t0 < 2.0:
        row = lb.server('node1')
        samples += 1
        if row['agent_status'].lstrip('* ') != 'L7OK' or row['status'] != 'UP':
            bad.append((row['status'], row['agent_status'], row['last_agt']))
        time.sleep(0.1)
    nprobes = agent.status()['probe']['probes'] - p0
    elapsed = time.monotonic() - t0
    p99, wrong = lat['p99_ms'], lat['errors']
    print('wall clock %s: log date %s; probes p99 %.2f ms, %d wrong; nova probed %d times in %.1f s; held '
          'connection closed after %s s; HAProxy samples %d, bad %d' % (
              name, got, p99, wrong, nprobes, elapsed, life and round(life, 2), samples, len(bad)),
          flush=True)
    rows.count(tag, 'HAProxy agent_status L7OK, server UP, in every sample', not bad, bad[:3],
               times=samples)
    rows.count(tag, '200 probes one at a time: p99 < 5 ms, every reply right',
               p99 < 5 and wrong == 0 and lat['n'] >= 200, lat, times=lat['n'])
    rows.count(tag, 'nova-api probed every 200 ms (6..16 probes in 2 s)',
               6 <= nprobes * 2.0 / elapsed <= 16, (nprobes, elapsed))
    rows.count(tag, 'a held connection closed after connection_timeout_ms (1.0 .. 1.6 s)',
               life is not None and 0.95 <= life <= 1.6, life)

    # The CLI under the same faked clock: since= carries the faked date.
    r = cli(agent, fake_env, '--maintenance', 'on', '--reason', 'clock %s' % name)
    t1 = time.monotonic()
    try:
        lb.wait_server('node1', 'DRAIN (agent)', timeout=3, interval=0.01)
        dt = time.monotonic() - t1
    except AssertionError:
        dt = None
    st = agent.status()
    ff = st['flag']['file']
    print('wall clock %s: maintenance on: exit %d, HAProxy DRAIN after %s ms, since=%s, '
          'error=%s' % (name, r.returncode, dt and int(dt * 1000), ff.get('since'), ff.get('error')), flush=True)
    rows.count(tag, 'maintenance on reaches HAProxy within two agent intervals',
               r.returncode == 0 and dt is not None and dt <= 2 * INTER_MS / 1000.0,
               (r.returncode, r.stderr, dt))
    rows.count(tag, "the flag's since= (the faked date) parses: no bad flag",
               ff.get('error') is None and ff.get('active') and 'bad flag' not in st['reply']
               and ff.get('since', '')[:4] == str(want.year), (ff, want))
    r = cli(agent, fake_env, '--maintenance', 'off')
    try:
        lb.wait_server('node1', 'UP', timeout=3, interval=0.01)
        ok = r.returncode == 0
    except AssertionError:
        ok = False
    rows.count(tag, 'maintenance off brings the server back UP', ok, r.stderr)
    up = agent.status()['uptime_s']
    real = time.monotonic() - ran_since
    rows.count(tag, 'status uptime_s follows the real elapsed time', abs(up - real) <= 2,
               (up, real))


def run(rows):
    lib = next((p for p in LIBS if os.path.exists(p)), None)
    if lib is None:
        raise Skip('libfaketime not installed (Debian package faketime: apt-get install '
                   'faketime)')
    work = tempdir('zdu-clock-')
    nova, nova_port, _ = start_fake_nova(os.path.join(work, 'fake_nova.log'))
    agent = Agent(workdir=work, settings={
        'probe': {'enabled': True, 'url': 'http://127.0.0.1:%d/v2.1/' % nova_port,
                  'interval_ms': 200, 'timeout_ms': 150, 'connect_timeout_ms': 100,
                  'rise': 1, 'fall': 1},
        'agent': {'connection_timeout_ms': 1000},
        'log': {'level': 'info'}})
    # HAProxy is not faked: start it before the environment is changed. Its regular check
    # passes on an HTTP stub, so that the server shows UP.
    stub = HttpStub('127.0.0.1')
    lb = HAProxy(work, servers=[dict(name='node1', addr='127.0.0.1', port=stub.port,
                                     agent_port=agent.port)], agent_inter_ms=INTER_MS)
    lb.start()

    offset_file = os.path.join(work, 'faketime-offset')
    with open(offset_file, 'w') as f:
        f.write('+0\n')
    fake_env = {'LD_PRELOAD': lib, 'FAKETIME_TIMESTAMP_FILE': offset_file,
                'FAKETIME_CACHE_DURATION': '1', 'FAKETIME_DONT_FAKE_MONOTONIC': '1',
                'FAKETIME_DONT_RESET': '1',
                # an ASan build refuses a preloaded library before its runtime otherwise
                'ASAN_OPTIONS': ':'.join(x for x in (os.environ.get('ASAN_OPTIONS'),
                                                      'verify_asan_link_order=0') if x)}
    saved = {k: os.environ.get(k) for k in fake_env}
    os.environ.update(fake_env)
    try:
        agent.start()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    ran_since = time.monotonic()
    agent.wait_reply(UP, timeout=5)
    lb.wait_server('node1', {'status': 'UP', 'agent_status': 'L7OK'}, timeout=10)

    for name, offset in (('as is', 0), ('jumped forward 1 year', 365),
                         ('jumped back 10 years', -3650), ('back to real time', 0)):
        with open(offset_file + '.tmp', 'w') as f:
            f.write('%+dd\n' % offset)
        os.rename(offset_file + '.tmp', offset_file)
        time.sleep(2.2)     # libfaketime re-reads the file once its 1 s cache is over 1 s old
        phase(rows, name, agent, lb, offset, ran_since, fake_env)
    rc = agent.stop()
    rows.count('wall clock jumps', 'SIGTERM: exit 0', rc == 0, rc)
    lb.stop()

    # ------------------------------------------------------------ monotonic 10 years ahead
    tag = 'time namespace: monotonic clock 10 years ahead'
    ns = Agent(workdir=work, name='ns', settings={'agent': {'connection_timeout_ms': 1000}})
    ns.write_config()
    unshare = shutil.which('unshare')
    probe = subprocess.run([unshare, '--time', '--fork', '--monotonic', '315360000', 'true'],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        rows.add(tag, 'unshare --time', 0, 0, note='not available: %s' % probe.stderr.strip())
        return
    ns.proc = Proc([unshare, '--time', '--fork', '--kill-child=SIGTERM', '--monotonic',
                    '315360000', agent_binary(), '--config', ns.cfg_path, '--foreground'],
                   ns.log_path)
    ns.wait_ready(10)
    up = ns.status()['uptime_s']
    lat = probe_latency(ns.addr, ns.port, 200, 'up ready 100%')
    life = held_connection_lifetime(ns.addr, ns.port)
    r = ns.cli('--maintenance', 'on', '--reason', 'ns')
    _, dt = ns.wait_reply('up drain #maintenance: ns', timeout=3)
    print('%s: uptime_s %s, probes p99 %.2f ms, held connection closed after %s s, flag seen '
          'after %.1f ms' % (tag, up, lat['p99_ms'], life and round(life, 2), dt * 1e3),
          flush=True)
    rows.count(tag, 'answers: 200 probes one at a time p99 < 5 ms, uptime_s small',
               lat['p99_ms'] < 5 and lat['errors'] == 0 and 0 <= up < 60, (lat, up),
               times=lat['n'])
    rows.count(tag, 'a held connection closed after 1.0 .. 1.6 s', life is not None
               and 0.95 <= life <= 1.6, life)
    rows.count(tag, 'maintenance on: exit 0, reply within 100 ms', r.returncode == 0
               and dt < 0.1, (r.returncode, r.stderr, dt))
    ns.proc.stop(sig=signal.SIGTERM)
    stub.close()
    nova.terminate()
    nova.wait(5)


if __name__ == '__main__':
    hard_main(run)
