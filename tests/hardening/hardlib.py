#!/usr/bin/python3
"""Helpers shared by the hardening tests (tests/hardening, issue 9). Stdlib only.

Every hardening test counts what it tried and what failed, per check, and prints one line per
check for tests/hardening/report:

    @row<TAB>{"check": ..., "tried": ..., "times": N, "failures": N, "note": ...}

    rows = Rows()
    rows.count('flag after a SIGKILLed writer', 'strict parse: old or new', ok, detail)
    rows.add('flag after a SIGKILLed writer', 'outcome: old state', n, 0, note='informational')
    hard_main(fn)            # fn(rows); prints the rows; exit 1 if a counted check failed
                             # (or fn raised), 77 if fn raised Skip, else 0.

raise_nofile(n) -> int       raise this process's RLIMIT_NOFILE soft limit (children inherit)
tmpfs(path, size)            context manager: a tmpfs mounted on PATH (Skip if refused)
tool_path(name)              probe-bench etc. from $ZDU_BUILD_DIR (or next to $ZDU_AGENT)
rss_kb(pid)                  VmRSS
ensure_build(root, dir)      $ZDU_AGENT / $ZDU_BUILD_DIR for soak and report (builds if needed)
start_fake_nova(log)         tests/lib/fake_nova.py as a process -> (popen, port, control_port)
probe_latency(addr, port, n, want) -> {n, errors, p50_ms, p99_ms, max_ms}: N probes one at a
                             time with probe-bench (C; Python when it is not built)
"""

import contextlib
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
import traceback

from agentlib import Agent, agent_binary
from testutil import agent_probe

__all__ = ['Rows', 'Skip', 'hard_main', 'raise_nofile', 'tmpfs', 'tool_path', 'rss_kb',
           'ensure_build', 'start_fake_nova', 'probe_latency']


class Skip(Exception):
    """The test cannot run here (exit 77, CTest SKIP_RETURN_CODE)."""


class Rows:
    def __init__(self):
        self.rows = {}
        self.order = []

    def _row(self, check, tried, note=''):
        key = (check, tried)
        if key not in self.rows:
            self.rows[key] = {'check': check, 'tried': tried, 'times': 0, 'failures': 0,
                              'note': note}
            self.order.append(key)
        return self.rows[key]

    def count(self, check, tried, ok, detail=None, times=1):
        """One (or TIMES) attempt(s) of CHECK; a failure is printed with DETAIL at once."""
        r = self._row(check, tried)
        r['times'] += times
        if not ok:
            r['failures'] += 1
            print('FAILED: %s (%s): %s' % (check, tried, detail), flush=True)
        return ok

    def add(self, check, tried, times, failures, note=''):
        r = self._row(check, tried, note)
        r['times'] += times
        r['failures'] += failures
        if note:
            r['note'] = note

    def failures(self):
        return sum(r['failures'] for r in self.rows.values())

    def emit(self):
        for k in self.order:
            print('@row\t' + json.dumps(self.rows[k]), flush=True)


def hard_main(fn):
    rows = Rows()
    t0 = time.monotonic()
    print('zdu-agent under test: %s' % agent_binary(), flush=True)
    rc = 0
    try:
        fn(rows)
    except Skip as e:
        print('SKIP: %s' % e, flush=True)
        rows.emit()
        sys.exit(77)
    except BaseException as e:  # noqa: B902 - report everything
        traceback.print_exc()
        for a in list(Agent.instances):
            sys.stdout.write('--- log of %s (%s), last 20 lines:\n%s\n'
                             % (a.name, a.log_path, a.log_tail(20)))
        rows.add('test ran to its end', os.path.basename(sys.argv[0]), 1, 1,
                 note='aborted: %s' % str(e).splitlines()[0][:120] if str(e) else 'aborted')
        rc = 1
    rows.emit()
    if rows.failures():
        rc = 1
    print('%s (%.1fs)' % ('PASS' if rc == 0 else 'FAIL', time.monotonic() - t0), flush=True)
    sys.exit(rc)


def raise_nofile(n):
    """Raise RLIMIT_NOFILE's soft limit to N (up to the hard limit; the hard limit too when
    allowed). Returns the soft limit in force. Children started afterwards inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < n:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
            return n
        except (ValueError, OSError):
            n = hard
    if soft == resource.RLIM_INFINITY or soft >= n:
        return soft
    resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))
    return n


@contextlib.contextmanager
def tmpfs(path, size):
    """Mount a tmpfs of SIZE (e.g. '64k') on PATH for the duration; Skip if mounting is
    refused (not root, no CAP_SYS_ADMIN, a container without mount rights)."""
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=%s,mode=0755' % size, 'tmpfs', path],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise Skip('cannot mount a tmpfs on %s (needs root): %s' % (path, r.stderr.strip()))
    try:
        yield path
    finally:
        for _ in range(50):
            if subprocess.run(['umount', path], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        else:
            subprocess.run(['umount', '-l', path], capture_output=True)


def tool_path(name):
    """A tool built with the project (tests/bench): $ZDU_BUILD_DIR/tests/bench/NAME, else
    next to the agent's build tree."""
    cands = []
    if os.environ.get('ZDU_BUILD_DIR'):
        cands.append(os.path.join(os.environ['ZDU_BUILD_DIR'], 'tests', 'bench', name))
    cands.append(os.path.join(os.path.dirname(os.path.dirname(agent_binary())), 'tests', 'bench',
                              name))
    for c in cands:
        if os.access(c, os.X_OK):
            return c
    return None


def rss_kb(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return -1


def ensure_build(root, build_dir=None):
    """For the scripts run by hand (soak, report): point $ZDU_AGENT and $ZDU_BUILD_DIR at a
    build. Order: $ZDU_AGENT as set; BUILD_DIR; $ZDU_BUILD_DIR; ROOT/build. A build directory
    without zdu-agent is configured (-DZDU_TESTS=OFF) and built first. Returns the build dir."""
    if os.environ.get('ZDU_AGENT') and not build_dir:
        bd = os.environ.get('ZDU_BUILD_DIR') or os.path.dirname(
            os.path.dirname(os.path.abspath(os.environ['ZDU_AGENT'])))
        os.environ.setdefault('ZDU_BUILD_DIR', bd)
        return bd
    bd = os.path.abspath(build_dir or os.environ.get('ZDU_BUILD_DIR')
                         or os.path.join(root, 'build'))
    agent = os.path.join(bd, 'agent', 'zdu-agent')
    if not os.access(agent, os.X_OK) or not os.access(
            os.path.join(bd, 'tests', 'bench', 'probe-bench'), os.X_OK):
        if not os.path.exists(os.path.join(bd, 'CMakeCache.txt')):
            subprocess.run(['cmake', '-S', root, '-B', bd, '-DZDU_TESTS=OFF'], check=True,
                           stdout=sys.stderr)
        subprocess.run(['cmake', '--build', bd, '-j2', '--target', 'zdu-agent'], check=True,
                       stdout=sys.stderr)
        # probe-bench only with ZDU_BENCH (the default); the tests fall back to Python.
        subprocess.run(['cmake', '--build', bd, '-j2', '--target', 'probe-bench'],
                       stdout=sys.stderr, stderr=subprocess.DEVNULL)
    os.environ['ZDU_AGENT'] = agent
    os.environ['ZDU_BUILD_DIR'] = bd
    return bd


def start_fake_nova(log_path):
    """tests/lib/fake_nova.py in its own process (in this one, its threads would take the
    GIL from the probe loops measuring latencies). Returns (Popen, port, control_port)."""
    lib = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'lib')
    log = open(log_path, 'w')
    p = subprocess.Popen([sys.executable, os.path.join(lib, 'fake_nova.py'), '--listen',
                          '127.0.0.1:0', '--control', '127.0.0.1:0'],
                         stdout=subprocess.PIPE, stderr=log, text=True)
    line = p.stdout.readline()
    m = re.match(r'ready listen=127\.0\.0\.1:(\d+) control=127\.0\.0\.1:(\d+)', line)
    if not m:
        p.kill()
        raise RuntimeError('fake_nova.py did not start: %r' % line)
    return p, int(m.group(1)), int(m.group(2))


def probe_latency(addr, port, n, want):
    """>= N probes, one at a time: probe-bench if built, else Python. Returns a dict."""
    pb = tool_path('probe-bench')
    if pb:
        r = subprocess.run([pb, addr, str(port), '-c', '1', '-n', str(n), '--json'],
                           capture_output=True, text=True, timeout=120)
        try:
            j = json.loads(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise AssertionError('probe-bench: %r %r' % (r.stdout, r.stderr)) from None
        return {'tool': 'probe-bench', 'n': j['ok'], 'errors': j['errors'] + j['mismatches']
                + (0 if (j['reply'] or '').rstrip('\n') == want else j['ok']),
                'p50_ms': j['latency_us']['p50'] / 1000, 'p99_ms': j['latency_us']['p99'] / 1000,
                'max_ms': j['latency_us']['max'] / 1000}
    lat, errors = [], 0
    for _ in range(n):
        try:
            data, dt = agent_probe(addr, port, timeout=2)
            lat.append(dt)
            errors += data != (want + '\n').encode()
        except OSError:
            errors += 1
    lat.sort()
    return {'tool': 'python', 'n': len(lat), 'errors': errors,
            'p50_ms': statistics.median(lat) * 1e3, 'p99_ms': lat[int(len(lat) * 0.99) - 1] * 1e3,
            'max_ms': lat[-1] * 1e3}
