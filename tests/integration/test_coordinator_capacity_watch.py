#!/usr/bin/python3
"""zdu-coordinator watches capacity during a rollout, not only before it (issue 15, part 3):
three nodes behind two real HAProxy, min_ready 2. node1's upgrade command is held until the
test has taken node3 out of service, so that when node1 is back and node2 is next, only node1
of node2's others serves on each load balancer.

  1. node3's nova-api fails (HTTP 500: its agent replies down, both load balancers show it
     DOWN). The coordinator does not start node2: a --json "wait" event of step "capacity"
     names lb1 and lb2, 1 other server serving against min_ready 2, and node3 as the one not
     serving; node2 keeps serving, gets no flag and no journal entry while node3 stays down.
     Once node3's nova-api answers again, the coordinator says capacity is back and after how
     long, and the rollout completes (node2 drained only after that).
  2. node3 put in maintenance by an operator (its own flag: DRAIN), timeouts.capacity_ms 2 s:
     the coordinator stops after about 2 s with exit 4, says node2 was not started and how to
     continue; node2 untouched (UP, no flag, old version), node3 left as it was (its own flag,
     DRAIN), the journal has node1 done, node2 "capacity-short" and no end. Once node3 is back,
     --resume skips node1 and finishes node2 and node3.

On the code before the capacity watch, node2's preflight refused at once (exit 4) in both."""
import json
import os
import subprocess
import threading
import time

from agentlib import check, main
from clusterlib import Cluster, coordinator_binary
from testutil import wait_until

POLL_MS = 100


class Running:
    """zdu-coordinator --json running in the background; its events read as they come."""

    def __init__(self, plan, *args):
        self.proc = subprocess.Popen([coordinator_binary(), '--plan', plan, '--json'] + list(args),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.err = ''
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip('\n'))

    def events(self):
        return [json.loads(line) for line in list(self.lines) if line.startswith('{')]

    def find(self, pred):
        return next((e for e in self.events() if pred(e)), None)

    def wait_event(self, what, pred, timeout=30):
        """The first event matching PRED; fails at once if the coordinator ended without it."""
        got = wait_until(lambda: self.find(pred) or (self.proc.poll() is not None and 'exited'),
                         timeout=timeout, interval=0.02, message=lambda: '%s; output so far:\n%s'
                         % (what, '\n'.join(self.lines[-15:])))
        if got == 'exited':
            self._t.join(5)
            got = self.find(pred)
            check(got is not None, '%s (the coordinator ended with exit %s without it)'
                  % (what, self.proc.returncode), '\n'.join(self.lines[-15:]))
        print('ok: %s: %s' % (what, got['message']), flush=True)
        return got

    def wait_exit(self, timeout=60):
        try:
            rc = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self._t.join(5)
        self.err = self.proc.stderr.read()
        print('\n'.join(self.lines[-40:]), self.err, sep='\n')
        return rc


def journal(cl):
    return [json.loads(line) for line in open(os.path.join(cl.workdir, 'journal'))
            if '"step"' in line]


def held_command(cl, mapfile, gate):
    """The upgrade command: for node1, wait until GATE exists (the test has taken node3 out),
    then fake_upgrade.py as usual."""
    return ('[ {node} != node1 ] || until [ -e %s ]; do sleep 0.05; done; exec %s'
            % (gate, cl.upgrade_command(mapfile)))


def is_node(name, step, event):
    return lambda e: e.get('node') == name and e.get('step') == step and e.get('event') == event


def wait_out(cl, name, want):
    for lb in cl.lbs:
        lb.wait_server(name, lambda row: row['status'].startswith(want), timeout=15)


def check_short_event(ev, not_serving):
    msg = ev['message']
    check(ev.get('min_ready') == 2, 'the event carries min_ready 2', ev)
    short = {s['lb']: s for s in ev.get('short', [])}
    check(set(short) == {'lb1', 'lb2'}, 'the event names both load balancers as short', ev)
    for lb, s in short.items():
        check(s['serving'] == 1 and s['others'] == 2, '%s: 1 of 2 others serving' % lb, s)
        check(s['not_serving'].startswith('node3 ' + not_serving),
              '%s: node3 named as not serving (%s)' % (lb, not_serving), s)
    for lb in ('lb1', 'lb2'):
        check('load balancer %s: only 1 other server UP and not drained, min_ready is 2' % lb in msg,
              'the message names %s, the count and min_ready' % lb, msg)
    check('node2 is not started until capacity is back' in msg and 'timeouts.capacity_ms' in msg,
          'the message says node2 waits, and for how long at most', msg)


def node2_untouched(cl, what):
    st = cl.node('node2')['agent'].status()
    check(not st['flag']['active'], '%s: node2 has no flag' % what, st['flag'])
    for lb in cl.lbs:
        row = lb.server('node2')
        check(row['status'] == 'UP' and row['weight'] == '100',
              '%s: node2 UP weight 100 on %s' % (what, lb.name), row['status'])
    steps = [e['step'] for e in journal(cl) if e.get('node') == 'node2']
    check(steps in ([], ['capacity-short']), '%s: no step of node2 in the journal' % what, steps)


def resumes_when_back(cl):
    mapfile, record = cl.upgrade_map()
    gate = os.path.join(cl.workdir, 'gate1')
    plan = cl.write_plan(held_command(cl, mapfile, gate), min_ready=2, expect_version='2.93',
                         timeouts=dict(poll_ms=POLL_MS, capacity_ms=30000))
    run = Running(plan)
    run.wait_event('node1 upgrade started', is_node('node1', 'upgrade', 'start'))
    cl.node('node3')['nova'].set_mode('http500')
    wait_out(cl, 'node3', 'DOWN')
    print('node3 DOWN on both load balancers', flush=True)
    open(gate, 'w').close()

    ev = run.wait_event('node2 held: capacity short', is_node('node2', 'capacity', 'wait'))
    check_short_event(ev, 'DOWN')
    check(run.find(is_node('node1', 'wait-up', 'ok')), 'node1 was back before node2 was held')
    # Held: over 10 poll intervals, node2 stays serving and unflagged, the coordinator waits.
    end = time.monotonic() + 10 * POLL_MS / 1000.0
    while time.monotonic() < end:
        check(run.proc.poll() is None, 'the coordinator waits (still running)', run.lines[-5:])
        node2_untouched(cl, 'while node3 is down')
        time.sleep(0.05)
    node2_untouched(cl, 'after 10 poll intervals')
    check(not run.find(lambda e: e.get('node') == 'node2' and e.get('step') not in
                       ('preflight', 'capacity')), 'no step of node2 started', run.lines[-5:])

    t_back = time.monotonic()
    cl.node('node3')['nova'].set_mode('healthy')
    ok = run.wait_event('capacity back', is_node('node2', 'capacity', 'ok'))
    check('capacity back after' in ok['message'] and ok.get('waited_ms', 0) >= 10 * POLL_MS,
          'it says capacity is back and how long it waited', ok)
    rc = run.wait_exit(timeout=90)
    check(rc == 0, 'the rollout completes (exit 0)', rc)
    print('node3 back -> rollout done in %.1f s' % (time.monotonic() - t_back))

    evs = run.events()
    i_ok = evs.index(ok)
    first_drain = next(i for i, e in enumerate(evs) if e.get('node') == 'node2' and e['step'] == 'drain')
    check(first_drain > i_ok, 'node2 drained only after capacity was back', (first_drain, i_ok))
    check(evs[-1]['event'] == 'done', 'the last event is done', evs[-1])
    order = [(e['node'], e['step']) for e in journal(cl) if e['step'] in ('flagged', 'done', 'end')]
    check(order == [('node1', 'flagged'), ('node1', 'done'), ('node2', 'flagged'), ('node2', 'done'),
                    ('node3', 'flagged'), ('node3', 'done'), ('', 'end')],
          'journal: one node at a time, every node done', order)
    seen = [json.loads(line)['node'] for line in open(record)]
    check(seen == ['node1', 'node2', 'node3'], 'every node upgraded once, in order', seen)


def stops_after_timeout(cl):
    mapfile, record = cl.upgrade_map(version='2.94', name='map2.json')
    gate = os.path.join(cl.workdir, 'gate2')
    plan = cl.write_plan(held_command(cl, mapfile, gate), name='plan2.conf', min_ready=2,
                         expect_version='2.94', timeouts=dict(poll_ms=POLL_MS, capacity_ms=2000))
    run = Running(plan)
    run.wait_event('node1 upgrade started', is_node('node1', 'upgrade', 'start'))
    node3 = cl.node('node3')['agent']
    r = node3.cli('--maintenance', 'on', '--reason', 'hardware check')
    check(r.returncode == 0, 'node3 put in maintenance by an operator', r)
    wait_out(cl, 'node3', 'DRAIN')
    open(gate, 'w').close()

    ev = run.wait_event('node2 held: capacity short', is_node('node2', 'capacity', 'wait'))
    check_short_event(ev, 'DRAIN (agent)')
    rc = run.wait_exit(timeout=60)
    check(rc == 4, 'stopped after timeouts.capacity_ms: exit 4 (node2 refused)', rc)
    evs = run.events()
    fail = [e for e in evs if e['event'] == 'fail']
    check(len(fail) == 1 and fail[0]['node'] == 'node2' and fail[0]['step'] == 'capacity',
          'one failure, node2 capacity', fail)
    check('capacity still short after 2.0 s (timeouts.capacity_ms)' in fail[0]['message']
          and 'load balancer lb1' in fail[0]['message'], 'it says why it stopped', fail[0]['message'])

    def t(e):
        return time.mktime(time.strptime(e['time'][:19], '%Y-%m-%dT%H:%M:%S')) + float(e['time'][19:-1])
    check(1.9 <= t(fail[0]) - t(ev) <= 10, 'it waited timeouts.capacity_ms (2 s) before stopping',
          t(fail[0]) - t(ev))
    check(evs[-1]['event'] == 'next' and 'node2 was not started' in evs[-1]['message']
          and '--resume' in evs[-1]['message'], 'the last line says what to do next', evs[-1])

    node2_untouched(cl, 'after the stop')
    check(cl.node('node2')['agent'].status()['health']['version'] == '2.93',
          'node2 not upgraded (still 2.93)')
    st = node3.status()
    check(st['flag']['active'] and 'hardware check' in json.dumps(st['flag']),
          'node3 keeps its operator flag (left as it was)', st['flag'])
    for lb in cl.lbs:
        check(lb.server('node3')['status'].startswith('DRAIN'), 'node3 still DRAIN on %s' % lb.name)
    j = journal(cl)
    check(('node1', 'done') in [(e['node'], e['step']) for e in j], 'journal: node1 done', j)
    check([e['step'] for e in j if e['node'] == 'node2'] == ['capacity-short'],
          'journal: node2 capacity-short, nothing else', j)
    check(not any(e['step'] == 'end' for e in j), 'journal: the rollout is not finished', j)

    # Resumable: node3 back, --resume skips node1 and finishes the others.
    r = node3.cli('--maintenance', 'off')
    check(r.returncode == 0, 'node3 maintenance off', r)
    cl.wait_all_up(timeout=15)
    r = cl.coordinator('--plan', plan, '--resume', '--json', timeout=120)
    print(r.stdout[-2500:], r.stderr, sep='\n')
    check(r.returncode == 0, '--resume completes (exit 0)', r.returncode)
    evs = [json.loads(line) for line in r.stdout.splitlines() if line.startswith('{')]
    check(any(e['node'] == 'node1' and e['step'] == 'skip' for e in evs), '--resume skips node1')
    done = [e['node'] for e in journal(cl) if e['step'] == 'done']
    check(done == ['node1', 'node2', 'node3'], 'journal: every node done once', done)
    for n in cl.nodes:
        check(n['agent'].status()['health']['version'] == '2.94', '%s at 2.94' % n['name'])


def run():
    t0 = time.monotonic()
    with Cluster(nodes=3, lbs=2) as cl:
        resumes_when_back(cl)
        t1 = time.monotonic()
        print('part 1: %.1f s' % (t1 - t0), flush=True)
        stops_after_timeout(cl)
        print('part 2: %.1f s' % (time.monotonic() - t1), flush=True)


if __name__ == '__main__':
    main(run)
