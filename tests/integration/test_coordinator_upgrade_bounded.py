#!/usr/bin/python3
"""The upgrade step is bounded even when the upgrade command leaves a process holding its output.

Two nodes behind one real HAProxy; the plan upgrades node1 only. The upgrade command starts a
`sleep 600` in the background that keeps the command's stdout and stderr (`sleep 600 & exit 0`,
what an init script that keeps stdout or an ssh ControlPersist master does), and writes its
pid to a file.

1. timeouts.upgrade_ms = 30000: the command itself exits 0 at once; the step ends about
   ZDU_SPAWN_HOLD_MS (2 s) later with a warning that processes left in the background held the
   output, the upgrade counts as succeeded, the rollout completes (exit 0), and the sleep is
   gone.
2. timeouts.upgrade_ms = 1500, and the background process ignores SIGTERM: the step ends at the
   time limit (exit 3, "killed after 1.5 s"), within the limit and the SIGTERM-to-SIGKILL time,
   and the sleep is gone.

Before the fix each run waited for the sleep's 600 s. Every wait here has a deadline; whatever
is left is killed before the test fails."""
import json
import os
import signal
import subprocess
import time

from agentlib import check, main
from clusterlib import Cluster, coordinator_binary

HOLD_S = 2.0   # ZDU_SPAWN_HOLD_MS
TERM_S = 2.0   # ZDU_SPAWN_TERM_MS
DEADLINE_S = 45


def dead(pid):
    """Gone, or a zombie nobody has reaped yet (it has ended either way)."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] == 'Z'
    except FileNotFoundError:
        return True


def wait_dead(pid, timeout=5):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if dead(pid):
            return True
        time.sleep(0.05)
    return dead(pid)


def read_pid(path):
    try:
        return int(open(path).read().strip())
    except (OSError, ValueError):
        return None


def coordinate(cl, plan, pidfile):
    """Runs the coordinator (--json) with a deadline; returns (rc, events, seconds)."""
    t0 = time.monotonic()
    p = subprocess.Popen([coordinator_binary(), '--plan', plan, '--json'], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        p.kill()
        pid = read_pid(pidfile)
        if pid:
            os.kill(pid, signal.SIGKILL)
        out, err = p.communicate(timeout=10)
        print(out, err, sep='\n')
        check(False, 'the coordinator ended within %d s' % DEADLINE_S,
              'still running: the upgrade step waited for the background process')
    secs = time.monotonic() - t0
    print(out, err, sep='\n')
    events = [json.loads(line) for line in out.splitlines() if line.startswith('{')]
    return p.returncode, events, secs


def upgrade_span(events):
    """Seconds from the upgrade step's start to its last event, from the events' times."""
    def t(e):
        s = e['time']
        return time.mktime(time.strptime(s[:19], '%Y-%m-%dT%H:%M:%S')) + float(s[19:-1] or 0)
    up = [e for e in events if e.get('step') == 'upgrade']
    return t(up[-1]) - t(up[0])


def run():
    with Cluster(nodes=2, lbs=1) as cl:
        pidfile = os.path.join(cl.workdir, 'bg.pid')

        # 1. The command exits 0; its background sleep holds the output.
        cmd = 'echo upgrading {node}; sleep 600 & echo $! > %s; echo done' % pidfile
        plan = cl.write_plan(cmd, name='hold.conf', nodes=['node1'], min_ready=0,
                             journal=os.path.join(cl.workdir, 'hold.journal'))
        rc, events, secs = coordinate(cl, plan, pidfile)
        pid = read_pid(pidfile)
        check(pid, 'the command wrote its background pid', pid)
        check(rc == 0, 'rollout exit 0', rc)
        warns = [e['message'] for e in events if e.get('step') == 'upgrade' and e['event'] == 'warn']
        check(any('left in the background still hold its output' in m for m in warns),
              'a warning says processes left in the background held the output', warns)
        oks = [e['message'] for e in events if e.get('step') == 'upgrade' and e['event'] == 'ok']
        check(oks and 'succeeded' in oks[0], 'the upgrade counts as succeeded', oks)
        span = upgrade_span(events)
        print('upgrade step: %.2f s, whole coordinator run: %.2f s' % (span, secs))
        check(HOLD_S - 0.2 <= span < HOLD_S + 2.5, 'the step ended about %.0f s after the command exited'
              % HOLD_S, span)
        check(wait_dead(pid), 'the background sleep is gone', pid)
        lines = [e['message'] for e in events if e['event'] == 'stdout']
        check(lines == ['| upgrading node1', '| done'], 'the command\'s lines are logged', lines)
        cl.wait_all_up(timeout=15)

        # 2. The limit: 1.5 s, the background process ignores SIGTERM.
        os.unlink(pidfile)
        cmd = "(trap '' TERM; exec sleep 600) & echo $! > %s; sleep 0.2; exit 0" % pidfile
        plan = cl.write_plan(cmd, name='limit.conf', nodes=['node1'], min_ready=0,
                             timeouts=dict(upgrade_ms=1500), journal=os.path.join(cl.workdir, 'limit.journal'))
        rc, events, secs = coordinate(cl, plan, pidfile)
        pid = read_pid(pidfile)
        check(pid, 'the command wrote its background pid', pid)
        check(rc == 3, 'exit 3 (a wait timed out)', rc)
        fails = [e['message'] for e in events if e['event'] == 'fail']
        check(fails and 'killed after 1.5 s' in fails[0],
              'it says the upgrade command was killed after 1.5 s', fails)
        span = upgrade_span(events)
        print('upgrade step: %.2f s, whole coordinator run: %.2f s' % (span, secs))
        check(1.5 - 0.1 <= span < 1.5 + TERM_S + 1.5, 'the step ended at the limit (and SIGKILL %.0f s later)'
              % TERM_S, span)
        warns = [e['message'] for e in events if e.get('step') == 'upgrade' and e['event'] == 'warn']
        check(any('time limit (1500 ms) reached' in m for m in warns), 'a warning says the limit was reached',
              warns)
        check(wait_dead(pid), 'the background sleep (SIGTERM ignored) is gone', pid)
        check(cl.node('node1')['agent'].status()['flag']['active'], 'node1 stays drained with its flag')


if __name__ == '__main__':
    main(run)
