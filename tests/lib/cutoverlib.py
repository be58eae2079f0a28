#!/usr/bin/python3
"""Helpers of the strategy = "cutover" tests (tests/integration/test_cutover_*.py), stdlib only.

cutover_extra(first, more='') -> str   the plan's `strategy = "cutover"; cutover: {...}` text
                                 with first_group = FIRST (node names) and MORE settings.
event_epoch(ev) -> float         a --json event's time as epoch seconds.
journal_steps(cl) -> [(node, step)]    the steps of the cluster's journal, in order.
is_up(status), is_drain(status)  a show-stat status is UP (any 'UP x/y') / a DRAIN.
is_switch(msg_part, event='ok')  a predicate on events: the switch step's EVENT with MSG_PART.
Coord(cl, *args)                 zdu-coordinator ARGS --json in the background: .events (read as
                                 they come), find(pred), wait_event(pred, timeout), wait(timeout)
                                 -> rc (fails on a sanitizer report), signal(sig), text().
LBSampler(cl, read_first, interval=0.02)   a thread sampling every load balancer's servers:
                                 .samples [{t0, t1, lb, st {server: status}, ver {node: version}}],
                                 .errors, stop() (and one last sample of each), of(lb).
fmt(sample) -> str               one sample, for messages.
check_switch_samples(sampler, lb, new, old, sw_start, new_version='2.93') -> index
                                 the checks on one load balancer's samples around the switch.
"""
import datetime
import json
import os
import signal
import threading
import time

from agentlib import check
from clusterlib import coordinator_binary
from haproxy import base_status
from testutil import Proc

CUTOVER = 'strategy = "cutover"; cutover: { first_group = [ %s ]; %s };'


def cutover_extra(first, more=''):
    return CUTOVER % (', '.join('"%s"' % n for n in first), more)


def event_epoch(ev):
    t = datetime.datetime.strptime(ev['time'], '%Y-%m-%dT%H:%M:%S.%fZ')
    return t.replace(tzinfo=datetime.timezone.utc).timestamp()


def journal_steps(cl):
    path = os.path.join(cl.workdir, 'journal')
    entries = [json.loads(line) for line in open(path) if line.strip()]
    return [(e.get('node'), e.get('step')) for e in entries if 'step' in e]


def is_up(status):
    return base_status(status) == 'UP'


def is_drain(status):
    return 'DRAIN' in status


class Coord:
    """zdu-coordinator ARGS --json in the background (testutil.Proc: stopped at exit), its
    output in a file read as it grows. .events: the JSON lines so far (each with 'seen', the
    local time it was read); wait_event(pred) -> the first event satisfying pred."""
    count = 0

    def __init__(self, cl, *args):
        Coord.count += 1
        self.log = os.path.join(cl.workdir, 'coordinator-%d.log' % Coord.count)
        self.proc = Proc([coordinator_binary()] + list(args) + ['--json'], self.log)
        self.pid = self.proc.pid
        self.events = []
        self._pos = 0
        self._partial = b''

    def read(self):
        with open(self.log, 'rb') as f:
            f.seek(self._pos)
            data = f.read()
        self._pos += len(data)
        lines = (self._partial + data).split(b'\n')
        self._partial = lines.pop()
        now = time.time()
        for line in lines:
            if line.startswith(b'{'):
                ev = json.loads(line.decode())
                ev['seen'] = now
                self.events.append(ev)
        return self.events

    def find(self, pred):
        return next((e for e in self.read() if pred(e)), None)

    def wait_event(self, pred, timeout=60, interval=0.003):
        deadline = time.monotonic() + timeout
        while True:
            alive = self.proc.alive()
            ev = self.find(pred)
            if ev is not None:
                return ev
            if not alive:
                raise AssertionError('coordinator exited (%s) without the awaited event; output:\n%s'
                                     % (self.proc.returncode, self.text()[-4000:]))
            if time.monotonic() > deadline:
                raise AssertionError('coordinator: awaited event not seen in %ds; output:\n%s'
                                     % (timeout, self.text()[-4000:]))
            time.sleep(interval)

    def wait(self, timeout=120):
        try:
            rc = self.proc.wait(timeout)
        except Exception:
            self.proc.stop(timeout=2, sig=signal.SIGKILL)
            raise AssertionError('coordinator still running after %ds:\n%s' % (timeout, self.text()[-4000:]))
        self.read()
        text = self.text()
        for bad in ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:'):
            if bad in text:
                raise AssertionError('coordinator: %s (exit %s):\n%s' % (bad, rc, text[-6000:]))
        return rc

    def signal(self, sig):
        os.kill(self.pid, sig)

    def text(self):
        with open(self.log, 'rb') as f:
            return f.read().decode('utf-8', 'replace')


def is_switch(msg_part, event='ok'):
    return lambda e: e.get('step') == 'switch' and e['event'] == event and msg_part in e['message']


class LBSampler(threading.Thread):
    """Samples every load balancer's servers every INTERVAL s: .samples is a list of dicts
    t0/t1 (time.time() before/after the request), lb, st {server: status} and ver
    {node: version its fake nova advertised, read before the request}.

    The servers are read in the order READ_FIRST then the rest, in ONE runtime request of one
    `show stat BACKEND 4 SID` per server (applied in order). A show stat is not a snapshot: a
    runtime request applied between two of its rows would give a torn sample. Reading the
    group the switch drains before the group it makes ready means a torn sample can show both
    groups UP, never neither: a sample with no server UP is a real moment without one."""

    def __init__(self, cl, read_first, interval=0.02):
        super().__init__(daemon=True)
        self.cl = cl
        self.interval = interval
        self.samples = []
        self.errors = []
        self._halt = threading.Event()
        rows = cl.lbs[0].show_stat('nova-api')
        sid = {r['svname']: r['sid'] for r in rows if r['svname'] not in ('FRONTEND', 'BACKEND')}
        order = list(read_first) + [s for s in sorted(sid) if s not in read_first]
        self.cmd = '; '.join('show stat nova-api 4 %s' % sid[s] for s in order)

    @staticmethod
    def parse(text):
        header, out = None, {}
        for line in text.splitlines():
            if line.startswith('# '):
                header = line[2:].split(',')
            elif header and line.strip():
                row = dict(zip(header, line.split(',')))
                out[row['svname']] = row['status']
        return out

    def sample(self, lb):
        ver = {n['name']: n['nova'].params.get('version') or n['nova'].version
               for n in self.cl.nodes}
        t0 = time.time()
        try:
            text = lb.runtime(self.cmd, timeout=5)
            st = self.parse(text)
        except (OSError, ValueError) as e:
            self.errors.append((t0, lb.name, repr(e)))
            return
        t1 = time.time()
        if len(st) != len(self.cl.nodes):
            self.errors.append((t0, lb.name, text[:300]))
            return
        self.samples.append(dict(t0=t0, t1=t1, lb=lb.name, st=st, ver=ver))

    def run(self):
        while not self._halt.is_set():
            for lb in self.cl.lbs:
                self.sample(lb)
            self._halt.wait(self.interval)

    def stop(self):
        """Stops sampling, then takes one last sample of every load balancer: the state the
        rollout left, even when its last change came within the last interval (the
        coordinator's wait-up can end 3 ms after its push)."""
        self._halt.set()
        self.join(10)
        for lb in self.cl.lbs:
            self.sample(lb)

    def of(self, lb):
        return [s for s in self.samples if s['lb'] == lb]


def fmt(sample):
    return '%.3f %s %s' % (sample['t1'], sample['lb'],
                           ' '.join('%s=%s' % kv for kv in sorted(sample['st'].items())))


def check_switch_samples(sampler, lb, new, old, sw_start, new_version='2.93'):
    """The checks on one load balancer's samples; returns the index of the switch."""
    ss = sampler.of(lb)
    check(len(ss) > 50, '%s: %d samples' % (lb, len(ss)))
    empty = [fmt(s) for s in ss if not any(is_up(v) for v in s['st'].values())]
    check(not empty, '%s: never a sample with no server UP' % lb, empty[:5])

    def switched(s):
        return all(is_up(s['st'][n]) for n in new) and all(is_drain(s['st'][n]) for n in old)
    i_sw = next((i for i, s in enumerate(ss) if switched(s)), None)
    check(i_sw is not None and i_sw > 0, '%s: a sample shows the switch' % lb,
          [fmt(s) for s in ss[-3:]])
    sw = ss[i_sw]
    check(sw['t1'] >= sw_start - 0.002, '%s: not before the coordinator sent it (%.3f >= %.3f)'
          % (lb, sw['t1'], sw_start))
    # Before the switch the old group always serves, and a first-group node once drained
    # stays out of service.
    down = [fmt(s) for s in ss[:i_sw] if not all(is_up(s['st'][n]) for n in old)]
    check(not down, '%s: the old group serves until the switch' % lb,
          'samples with an old-group server not UP: %s' % down[:3])
    for n in new:
        first_drain = next((i for i, s in enumerate(ss) if is_drain(s['st'][n])), None)
        check(first_drain is not None and first_drain < i_sw, '%s: %s drained before the switch'
              % (lb, n))
        # ss[i_sw - 1] may have caught the instant both groups were ready.
        back = [fmt(s) for s in ss[first_drain:i_sw - 1] if is_up(s['st'][n])]
        check(not back, '%s: %s out of service from its drain until the switch' % (lb, n), back[:3])
    # After: the first group serves to the end; an old node is UP again only at the new version.
    new_down = [fmt(s) for s in ss[i_sw:] if not all(is_up(s['st'][n]) for n in new)]
    old_up = ['%s at %s: %s' % (n, s['ver'][n], fmt(s)) for s in ss[i_sw:] for n in old
              if is_up(s['st'][n]) and s['ver'][n] != new_version]
    check(not new_down and not old_up, '%s: after the switch the first group stays UP and no '
          'old-group server is UP before it reports %s' % (lb, new_version),
          'first group not UP: %s; old-group server UP at its old version: %s'
          % (new_down[:3], old_up[:3]))
    for n in old:
        check(any(is_up(s['st'][n]) for s in ss[i_sw:]), '%s: %s back UP after its upgrade' % (lb, n))
    return i_sw
