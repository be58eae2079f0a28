#!/usr/bin/python3
"""strategy = "cutover", the switch itself, seen from the load balancers: 4 nodes (first group
node1, node2) behind 2 HAProxy. A thread samples both load balancers every ~20 ms during the
whole rollout. At the switch the first group becomes UP and the old group DRAIN on both, in one
step (at most one sample in between); before it the first group never serves once drained and
the old group always does; there is never a sample with no server UP; after it no old-group
server is UP again until its fake nova-api reports the new version (2.93). The coordinator is
stopped (SIGSTOP) the moment it reports the switch done: the journal ends with
("", "switched"), the first group's agents have no flag and the old group's are in drain mode,
and the load balancers still agree with them a few agent intervals later.

Fixed bug, kept as a regression check (fixed_bugs): a first-group server whose HAProxy check
fails on lb1 (its agent says healthy, HAProxy's own check does not pass: `set server
nova-api/node1 check-port DEAD` while the coordinator is frozen right after node1 is healthy).
The switch must not leave lb1 with no server UP: it refuses before the runtime request, or
undoes it when it cannot be confirmed, and never claims "the old group still serves" when the
old group was drained.

Also the helpers the other test_cutover_*.py scripts import: Coord (the coordinator in the
background with --json, events read as they come), LBSampler, journal_steps()."""
import datetime
import json
import os
import re
import signal
import threading
import time

from agentlib import check, main
from clusterlib import Cluster, coordinator_binary
from haproxy import base_status
from testutil import Proc, free_port

NEW = ['node1', 'node2']
OLD = ['node3', 'node4']
CUTOVER = 'strategy = "cutover"; cutover: { first_group = [ %s ]; %s };'


def cutover_extra(first=NEW, more=''):
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

    def run(self):
        while not self._halt.is_set():
            for lb in self.cl.lbs:
                ver = {n['name']: n['nova'].params.get('version') or n['nova'].version
                       for n in self.cl.nodes}
                t0 = time.time()
                try:
                    text = lb.runtime(self.cmd, timeout=5)
                    st = self.parse(text)
                except (OSError, ValueError) as e:
                    self.errors.append((t0, lb.name, repr(e)))
                    continue
                t1 = time.time()
                if len(st) != len(self.cl.nodes):
                    self.errors.append((t0, lb.name, text[:300]))
                    continue
                self.samples.append(dict(t0=t0, t1=t1, lb=lb.name, st=st, ver=ver))
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join(10)

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


def run():
    with Cluster(nodes=4, lbs=2) as cl:
        mapfile, record = cl.upgrade_map()
        plan = cl.write_plan(cl.upgrade_command(mapfile), expect_version='2.93',
                             timeouts=dict(request_ms=10000), extra=cutover_extra())
        sampler = LBSampler(cl, read_first=OLD)
        sampler.start()
        time.sleep(0.3)
        co = Coord(cl, '--plan', plan)

        # The moment the switch is reported done: freeze the coordinator and look.
        co.wait_event(is_switch('switch done'), timeout=90)
        co.signal(signal.SIGSTOP)
        try:
            steps = journal_steps(cl)
            i_sw = steps.index(('', 'switched'))
            check(not [s for s in steps[i_sw + 1:] if s[0] != 'node3' or s[1] not in ('flagged', 'drained')],
                  'journal: ("", "switched") is the last point (at most node3 flagged after it)',
                  steps[i_sw:])
            for n in NEW:
                st = cl.node(n)['agent'].status()
                check(not st['flag']['active'] and st['reply'].startswith('up ready'),
                      '%s (new group) has no flag at the switch: %s' % (n, st['reply']), st['flag'])
            for n in OLD:
                st = cl.node(n)['agent'].status()
                check(st['flag']['active'] and st['flag']['mode'] == 'drain'
                      and st['reply'].startswith('up drain'),
                      '%s (old group) has flag drain at the switch: %s' % (n, st['reply']), st['flag'])
            # Three agent intervals later the load balancers still agree with the agents.
            time.sleep(3 * cl.agent_inter_ms / 1000.0 + 0.2)
            for lb in cl.lbs:
                for n in NEW:
                    row = lb.server(n)
                    check(is_up(row['status']) and 'lb-managed' not in row['last_agt'],
                          '%s: %s UP, a plain agent reply applied (%s)' % (lb.name, n, row['last_agt']))
                for n in OLD:
                    row = lb.server(n)
                    check(is_drain(row['status']) and 'maintenance' in row['last_agt'],
                          '%s: %s DRAIN, a drain agent reply applied (%s)' % (lb.name, n, row['last_agt']))
        finally:
            co.signal(signal.SIGCONT)

        rc = co.wait(timeout=120)
        time.sleep(0.2)
        sampler.stop()
        print(co.text()[-5000:])
        check(rc == 0, 'coordinator exit 0', rc)
        start = co.find(is_switch('on every load balancer: set server', 'start'))
        applied = co.find(is_switch('runtime switch applied'))
        check(start and applied, 'the runtime request is reported')
        print('switch window:', applied['message'])
        cmds = [c.strip() for c in start['message'].split(':', 1)[1].split(';')]
        check(cmds == ['set server nova-api/%s state ready' % n for n in NEW]
              + ['set server nova-api/%s state drain' % n for n in OLD],
              'one request: the new group ready first, then the old group drain', cmds)
        rtt = [float(x) for x in re.findall(r'([0-9.]+) ms', applied['message'])]
        check(len(rtt) == 2, 'a round trip per load balancer: %s ms' % rtt)
        check(not sampler.errors or len(sampler.errors) < len(sampler.samples) / 20,
              'sampling mostly worked (%d samples, %d errors)' % (len(sampler.samples), len(sampler.errors)),
              sampler.errors[:3])

        t_start = event_epoch(start)
        t_sw = {}
        for lb in cl.lbs:
            i = check_switch_samples(sampler, lb.name, NEW, OLD, t_start)
            t_sw[lb.name] = sampler.of(lb.name)[i]['t1']
        spread = abs(t_sw['lb1'] - t_sw['lb2'])
        check(spread < 1.0, 'both load balancers switched together (first switched samples %.0f ms apart)'
              % (spread * 1000))

        seen = [json.loads(line)['node'] for line in open(record)]
        check(seen == ['node1', 'node2', 'node3', 'node4'], 'each node upgraded once, first group first',
              seen)
        cl.wait_all_up(timeout=10)
        for n in cl.nodes:
            st = n['agent'].status()
            check(st['health']['version'] == '2.93' and not st['flag']['active'],
                  '%s at 2.93 without a flag' % n['name'], (st['health'], st['flag']))
        check(journal_steps(cl)[-1] == ('', 'end'), 'journal ends the rollout')


def fixed_bugs():
    new, old = ['node1'], ['node2', 'node3']
    with Cluster(nodes=3, lbs=2) as cl:
        mapfile, record = cl.upgrade_map()
        plan = cl.write_plan(cl.upgrade_command(mapfile), expect_version='2.93',
                             extra='strategy = "cutover"; cutover: { switch_ms = 3000; };')
        sampler = LBSampler(cl, read_first=old)
        sampler.start()
        co = Coord(cl, '--plan', plan)
        co.wait_event(lambda e: e['node'] == 'node1' and e['step'] == 'wait-healthy' and e['event'] == 'ok',
                      timeout=90)
        co.signal(signal.SIGSTOP)
        try:
            cl.lbs[0].admin('set server nova-api/node1 check-port %d' % free_port('127.0.0.11'))
            cl.lbs[0].wait_server('node1', lambda row: row['status'].startswith('DOWN'), timeout=15)
        finally:
            co.signal(signal.SIGCONT)
        rc = co.wait(timeout=120)
        print(co.text()[-3000:])
        time.sleep(1.0)
        sampler.stop()
        check(rc != 0, 'the switch cannot complete with node1 DOWN on lb1 (exit %d)' % rc)
        nxt = [e['message'] for e in co.events if e['event'] == 'next']
        now = {lb.name: {n: lb.server(n)['status'] for n in new + old} for lb in cl.lbs}
        print('after the coordinator:', now)
        if any('old group still serves' in m for m in nxt):
            check(all(is_up(now[lb][n]) for lb in now for n in old),
                  'it says the old group still serves: it does', (nxt, now))
        for lb in cl.lbs:
            empty = [fmt(x) for x in sampler.of(lb.name) if not any(is_up(v) for v in x['st'].values())]
            check(not empty, '%s: never a sample with no server UP (%d without)' % (lb.name, len(empty)),
                  empty[:3])


def run_all():
    run()
    fixed_bugs()


if __name__ == '__main__':
    main(run_all)
