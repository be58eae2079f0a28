#!/usr/bin/python3
"""Crash consistency of the maintenance flag: the writer SIGKILLed at random moments.

ZDU_CRASH_KILLS times (default 1000), with the daemon running:
  * spawn `zdu-agent --maintenance on --mode drain|maint --reason "crash N"` or
    `--maintenance off` (each a change from the current state), SIGKILL it after a random
    delay, uniform over 0 .. the CLI's median run time (measured first; about 5 ms here, so
    kills land anywhere from exec to the control-socket confirmation);
  * the flag on disk is then the old state or the new one: absent, or byte for byte the old
    file, or exactly what the CLI writes for the new state (strict: the comment line,
    mode=, reason=, since=YYYY-MM-DDTHH:MM:SSZ, by=USER@HOST, nothing else);
  * nothing in the directory but the flag and `.maintenance.XXXXXX` temporary files;
  * the running daemon's reply matches the file within 2 s (inotify; no control sync
    happened when the CLI died first), and its status shows the file's `since`.
Then the daemon is restarted: it answers from the flag and ignores the temporary files left
by killed writers. Their number is reported; those older than a minute (their writer is dead)
are removed at the daemon's start, a young one is kept (they once accumulated without bound,
one per writer killed between mkostemp and rename).
"""

import os
import pwd
import random
import re
import signal
import socket
import statistics
import time

from agentlib import Agent, agent_binary
from hardlib import hard_main

KILLS = int(os.environ.get('ZDU_CRASH_KILLS', '1000'))
SEED = int(os.environ.get('ZDU_CRASH_SEED', str(int(time.time()))))
TMP_RE = re.compile(r'^\.maintenance\.[A-Za-z0-9]{6}$')


def content_re(mode, reason, user):
    return re.compile((
        r'\A# zdu-agent maintenance flag: present means maintenance \(see zdu-agent\(8\)\)\n'
        r'mode=%s\nreason=%s\nsince=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\nby=%s@%s\n\Z'
        % (re.escape(mode), re.escape(reason), re.escape(user), re.escape(socket.gethostname()))
    ).encode())


def parse_flag(data):
    """Strict parse of a flag the CLI wrote: {'mode','reason','since','by'} or None."""
    if data is None:
        return None
    m = re.match(rb'\A# zdu-agent maintenance flag: present means maintenance \(see '
                 rb'zdu-agent\(8\)\)\nmode=(drain|maint|lb)\nreason=([^\n]*)\n'
                 rb'since=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\nby=([^\n]*)\n\Z', data)
    if not m:
        return None
    return {'mode': m.group(1).decode(), 'reason': m.group(2).decode(),
            'since': m.group(3).decode(), 'by': m.group(4).decode()}


def expected_reply(data):
    if data is None:
        return 'up ready 100%'
    f = parse_flag(data)
    return 'up %s #maintenance: %s' % (f['mode'], f['reason'])


def read_flag(path):
    try:
        with open(path, 'rb') as f:
            return f.read()
    except FileNotFoundError:
        return None


def spawn(argv):
    fa = [(os.POSIX_SPAWN_OPEN, 0, '/dev/null', os.O_RDONLY, 0),
          (os.POSIX_SPAWN_OPEN, 1, '/dev/null', os.O_WRONLY, 0),
          (os.POSIX_SPAWN_OPEN, 2, '/dev/null', os.O_WRONLY, 0)]
    return os.posix_spawn(argv[0], argv, os.environ, file_actions=fa)


def precise_sleep(s):
    end = time.perf_counter() + s
    if s > 0.0004:
        time.sleep(s - 0.0003)
    while time.perf_counter() < end:
        pass


def run(rows):
    user = pwd.getpwuid(os.geteuid()).pw_name
    agent = Agent(settings={'log': {'level': 'warning'}})
    agent.start()
    b = agent_binary()
    base = [b, '--config', agent.cfg_path, '--maintenance']

    # Calibrate: how long does one CLI run take here (exec to exit, including the fsyncs and
    # the control-socket confirmation)?
    times = []
    for i in range(20):
        t = time.perf_counter()
        pid = spawn(base + (['on', '--reason', 'calibrate'] if i % 2 == 0 else ['off']))
        os.waitpid(pid, 0)
        times.append(time.perf_counter() - t)
    median = statistics.median(times)
    window = max(0.003, median)
    print('CLI run time: median %.2f ms, max %.2f ms; kill delays uniform over 0..%.2f ms; '
          'seed %d' % (median * 1e3, max(times) * 1e3, window * 1e3, SEED), flush=True)
    rng = random.Random(SEED)

    outcome = {'old state (killed before the rename)': 0, 'new state (killed after the rename)': 0,
               'CLI finished before the kill': 0}
    temps_seen = set()
    prev = read_flag(agent.flag_path)
    ready_times = []
    t_loop = time.monotonic()
    for i in range(KILLS):
        if prev is None or rng.random() < 0.35:
            if prev is None:
                mode = rng.choice(['drain', 'maint'])
                args, want = ['on', '--mode', mode, '--reason', 'crash %d' % i], (mode, 'crash %d' % i)
            else:
                args, want = ['off'], None
        else:
            mode = rng.choice(['drain', 'maint'])
            args, want = ['on', '--mode', mode, '--reason', 'crash %d' % i], (mode, 'crash %d' % i)
        delay = rng.uniform(0, window)
        pid = spawn(base + args)
        precise_sleep(delay)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _, st = os.waitpid(pid, 0)
        finished = os.WIFEXITED(st)

        now = read_flag(agent.flag_path)
        what = 'kill %d (%s, %.2f ms)' % (i, ' '.join(args), delay * 1e3)
        is_old = now == prev
        is_new = (now is None) if want is None else (
            now is not None and content_re(want[0], want[1], user).match(now) is not None)
        rows.count('flag after a SIGKILLed CLI writer', 'on disk: old or new state, strictly '
                   'parsed (never torn, never lost)', is_old or is_new, '%s: %r' % (what, now))
        if finished:
            outcome['CLI finished before the kill'] += 1
            rows.count('flag after a SIGKILLed CLI writer', 'a CLI that finished exited 0 with '
                       'the new state', os.WEXITSTATUS(st) == 0 and is_new, (what, st, now))
        elif is_new and not is_old:
            outcome['new state (killed after the rename)'] += 1
        else:
            outcome['old state (killed before the rename)'] += 1

        names = os.listdir(agent.flag_dir)
        stray = [n for n in names if n != 'maintenance' and not TMP_RE.match(n)]
        rows.count('flag after a SIGKILLed CLI writer', 'directory holds only the flag and '
                   '.maintenance.XXXXXX temporaries', not stray, (what, stray))
        temps_seen.update(n for n in names if TMP_RE.match(n))

        if not (is_old or is_new) and parse_flag(now) is None and now is not None:
            prev = now
            continue   # torn: counted above; the reply has no defined expectation
        want_reply = expected_reply(now)
        t0 = time.monotonic()
        try:
            agent.wait_reply(want_reply, timeout=2.0, interval=0.001)
            ok = True
            ready_times.append(time.monotonic() - t0)
        except AssertionError as e:
            ok = False
            want_reply = '%s (%s)' % (want_reply, e)
        rows.count('flag after a SIGKILLed CLI writer', "the daemon's reply matches the file "
                   '(within 2 s)', ok, '%s: want %s' % (what, want_reply))
        if i % 50 == 0 or i == KILLS - 1:
            st_json = agent.status()
            ff = st_json['flag']['file']
            f = parse_flag(now)
            ok = (f is None and not ff['active']) or (
                f is not None and ff['active'] and ff['since'] == f['since']
                and ff['mode'] == f['mode'] and ff['reason'] == f['reason'] and ff['error'] is None)
            rows.count('flag after a SIGKILLed CLI writer', "the daemon's status shows the "
                       "file's mode, reason and since (every 50th kill)", ok, (what, ff, f))
        prev = now
    loop_s = time.monotonic() - t_loop

    temps_now = sorted(n for n in os.listdir(agent.flag_dir) if TMP_RE.match(n))
    print('%d kills in %.1f s (%.1f ms each); outcomes: %s' % (
        KILLS, loop_s, loop_s * 1e3 / max(1, KILLS),
        ', '.join('%s %d' % kv for kv in outcome.items())), flush=True)
    if ready_times:
        print("daemon's reply matched the file after: median %.2f ms, max %.1f ms" % (
            statistics.median(ready_times) * 1e3, max(ready_times) * 1e3), flush=True)
    sizes = {}
    for n in temps_now:
        sz = os.path.getsize(os.path.join(agent.flag_dir, n))
        sizes[sz] = sizes.get(sz, 0) + 1
    print('temporary files left by killed writers: %d (%.1f%% of the kills); sizes: %s' % (
        len(temps_now), 100.0 * len(temps_now) / max(1, KILLS),
        ', '.join('%d bytes x%d' % kv for kv in sorted(sizes.items()))), flush=True)
    for k, v in outcome.items():
        rows.add('flag after a SIGKILLed CLI writer', 'outcome: ' + k, v, 0, note='informational')
    rows.add('flag after a SIGKILLed CLI writer', 'temporary files left behind (ignored by '
             'the daemon)', len(temps_now), 0, note='informational: %d of %d kills'
             % (len(temps_now), KILLS))

    # Restart: the daemon starts from the flag, whatever temporaries lie around. Those
    # older than a minute are stale (their writer is dead) and removed; a young one may
    # belong to a writer at work and stays: age the leftovers, and add one young.
    rc = agent.stop()
    old_t = time.time() - 120
    for n in temps_now:
        try:
            os.utime(os.path.join(agent.flag_dir, n), (old_t, old_t))
        except FileNotFoundError:
            pass
    young = os.path.join(agent.flag_dir, '.maintenance.YOUNG1')
    with open(young, 'w') as f:
        f.write('mode=drain\n')
    rows.count('daemon restart among leftover temporaries', 'SIGTERM exit 0', rc == 0, rc)
    agent.start()
    want_reply = expected_reply(read_flag(agent.flag_path))
    got = agent.reply()
    rows.count('daemon restart among leftover temporaries', 'first reply matches the flag',
               got == want_reply, (got, want_reply))
    left = sorted(n for n in os.listdir(agent.flag_dir) if TMP_RE.match(n) and n != '.maintenance.YOUNG1')
    rows.count('stale .maintenance.XXXXXX temporaries', 'a young one (a writer at work) is kept',
               os.path.exists(young), 'removed')
    os.unlink(young)
    print('after the daemon restart: %d temporary files still there' % len(left), flush=True)
    rows.count('stale .maintenance.XXXXXX temporaries', 'removed by the daemon at start '
                   '(they accumulate without bound otherwise)', not left,
                   '%d of %d still there after a restart' % (len(left), len(temps_now)))
    agent.stop()


if __name__ == '__main__':
    hard_main(run)
