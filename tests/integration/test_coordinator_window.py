#!/usr/bin/python3
"""The plan's before_command and after_command (issue 18.2), against two real HAProxy and two
agents on 127.0.0.141-142.

Each window command is this script run as `window NAME STATE`: it appends one JSON line to
STATE/NAME.jsonl with its time and what both load balancers show for every server, and exits
with the status in STATE/NAME.exit (0 when absent) after printing to stdout and stderr.

- order: before runs once, before the first node is drained (every server UP on both load
  balancers, its time before the first upgrade's), after once, after the last node is back
  (every server UP, its time after the last upgrade's); the JSON events say the same
  (before's ok before the first drain, after's start after the last wait-up ok), with
  {backend} and {plan} expanded; the progress textfile (--textfile-dir) has both steps' durations;
- dry run: the before line, then each node's plan, then the after line; nothing runs;
- a failing before_command stops the rollout (exit 1) naming the command, its status and its
  last output, with no node drained (no flag, no drain reply, no upgrade, no journal step);
  the next run runs it again;
- a before_command over timeouts.before_ms is killed (exit 3, timeouts.before_ms named);
- a succeeded before_command does not make the rollout "under way": a capacity shortfall at
  the first node still refuses at once (exit 4);
- SIGTERM while before_command runs: exit 1 once it ended (not killed half-way), its success
  journaled;
- a failing after_command stops (exit 1) saying every node is back; --status says so; after a
  node's failure --resume does not run before_command again; a --resume after all nodes are
  done runs only after_command, then the journal ends."""
import json
import os
import re
import signal
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def window_command(name, state):
    """The window command itself (run by the coordinator through /bin/sh)."""
    sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
    from haproxy import parse_show_stat
    seen = {}
    for path in json.load(open(os.path.join(state, 'lbs.json'))):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect(path)
        s.sendall(b'show stat\n')
        data = b''
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
        s.close()
        seen[os.path.basename(path)] = {r['svname']: r['status'] for r in parse_show_stat(data.decode())
                                        if r['pxname'] == 'nova-api' and r['svname'] not in
                                        ('FRONTEND', 'BACKEND')}
    with open(os.path.join(state, name + '.jsonl'), 'a') as f:
        f.write(json.dumps(dict(time=time.time(), seen=seen, argv=sys.argv[4:])) + '\n')
    code_file = os.path.join(state, name + '.exit')
    code = int(open(code_file).read()) if os.path.exists(code_file) else 0
    print('%s: checking' % name)
    print('%s: line two' % name)
    if code:
        print('%s: simulated failure %d' % (name, code), file=sys.stderr)
    sys.exit(code)


if len(sys.argv) > 1 and sys.argv[1] == 'window':
    window_command(sys.argv[2], sys.argv[3])

from agentlib import check, main  # noqa: E402
from clusterlib import Cluster, coordinator_cleanup, start_coordinator  # noqa: E402
from testutil import wait_until  # noqa: E402


def lines(path):
    return [json.loads(x) for x in open(path)] if os.path.exists(path) else []


def events(out):
    return [json.loads(x) for x in out.splitlines() if x.startswith('{')]


def idx(evs, pred, last=False):
    found = [i for i, e in enumerate(evs) if pred(e)]
    return (found[-1] if last else found[0]) if found else None


def all_up(seen):
    return all(st == 'UP' for lb in seen.values() for st in lb.values())


class Setup:
    def __init__(self, cl):
        self.cl = cl
        self.state = os.path.join(cl.workdir, 'state')
        os.makedirs(self.state, exist_ok=True)
        with open(os.path.join(self.state, 'lbs.json'), 'w') as f:
            json.dump([lb.sock_path for lb in cl.lbs], f)
        self.mapfile, self.record = cl.upgrade_map()
        self.journal = os.path.join(cl.workdir, 'journal')

    def cmd(self, name, extra=''):
        return '%s %s window %s %s%s' % (sys.executable, os.path.abspath(__file__), name, self.state,
                                         extra)

    def plan(self, before=True, after=True, timeouts=None, fail=()):
        self.cl.upgrade_map(fail=fail)
        extra = []
        if before:
            extra.append('before_command = "%s";' % self.cmd('before', ' {backend} {plan}'))
        if after:
            extra.append('after_command = "%s";' % self.cmd('after'))
        t = dict(before_ms=20000, after_ms=20000)
        t.update(timeouts or {})
        return self.cl.write_plan(self.cl.upgrade_command(self.mapfile), expect_version='2.93',
                                  timeouts=t, extra='\n'.join(extra))

    def runs(self, name):
        return lines(os.path.join(self.state, name + '.jsonl'))

    def exit_with(self, name, code):
        p = os.path.join(self.state, name + '.exit')
        if code:
            open(p, 'w').write('%d\n' % code)
        elif os.path.exists(p):
            os.remove(p)

    def steps(self):
        return [(e['node'], e['step']) for e in lines(self.journal) if 'step' in e]

    def reset(self):
        for n in self.cl.nodes:
            self.cl.set_version(n['name'], '2.90')
        for name in ('before.jsonl', 'after.jsonl'):
            p = os.path.join(self.state, name)
            if os.path.exists(p):
                os.remove(p)
        if os.path.exists(self.record):
            os.remove(self.record)


def dry_run(s):
    plan = s.plan()
    r = s.cl.coordinator('--plan', plan, '--dry-run')
    print(r.stdout, r.stderr, sep='\n')
    check(r.returncode == 0, 'dry run: exit 0', r.returncode)
    out = r.stdout.splitlines()
    b = idx(out, lambda x: 'would run before_command once, before any node is drained' in x)
    a = idx(out, lambda x: 'would run after_command once, after the last node is back' in x)
    n1 = idx(out, lambda x: ' node1 ' in x and 'would:' in x)
    n2 = idx(out, lambda x: ' node2 ' in x and 'would:' in x)
    check(None not in (b, a, n1, n2) and b < n1 < n2 < a, 'dry run: before, node1, node2, after in order',
          (b, n1, n2, a))
    check(b is not None and 'window before %s nova-api %s' % (s.state, plan) in out[b],
          'dry run: before_command shown with {backend} and {plan} expanded', out[b] if b else None)
    check(not s.runs('before') and not s.runs('after') and not os.path.exists(s.record),
          'dry run: nothing ran')


def before_fails(s):
    logs = {n['name']: n['agent'].log_size() for n in s.cl.nodes}
    s.exit_with('before', 3)
    r = s.cl.coordinator('--plan', s.plan(), '--json')
    print(r.stdout, r.stderr, sep='\n')
    check(r.returncode == 1, 'failing before_command: exit 1', r.returncode)
    evs = events(r.stdout)
    fail = [e for e in evs if e['event'] == 'fail']
    check(fail and fail[0]['step'] == 'before' and fail[0]['node'] is None,
          'the fail event is step before, no node', fail)
    msg = fail[0]['message'] if fail else ''
    check('before_command' in msg and 'exited with status 3' in msg and 'window before' in msg,
          'it names the command and its exit status', msg)
    check('simulated failure 3' in msg and 'line two' in msg, 'it quotes the last lines of its output', msg)
    nxt = [e for e in evs if e['event'] == 'next']
    check(nxt and 'no node was drained' in nxt[0]['message'], 'next: no node was drained', nxt)
    check(not any(e['step'] in ('preflight', 'drain') for e in evs), 'no node step started')
    check(len(s.runs('before')) == 1 and not s.runs('after'), 'before ran once, after never')
    check(not os.path.exists(s.record), 'no upgrade ran')
    check(s.steps() == [], 'the journal records no step', s.steps())
    for n in s.cl.nodes:
        check(not n['agent'].status()['flag']['active'], '%s has no flag' % n['name'])
        changes = n['agent'].reply_changes(logs[n['name']])
        check(not any('drain' in rep or 'maint' in rep for _, rep in changes),
              '%s never replied drain' % n['name'], changes)
    for lb in s.cl.lbs:
        for n in s.cl.nodes:
            check(lb.server(n['name'])['status'] == 'UP', '%s UP on %s' % (n['name'], lb.name))


def before_timeout(s):
    s.exit_with('before', 0)
    plan = s.cl.write_plan(s.cl.upgrade_command(s.mapfile), timeouts=dict(before_ms=1000),
                           extra='before_command = "echo started; exec sleep 30";')
    t0 = time.monotonic()
    r = s.cl.coordinator('--plan', plan)
    took = time.monotonic() - t0
    print(r.stdout, r.stderr, sep='\n')
    check(r.returncode == 3, 'before_command over its limit: exit 3', r.returncode)
    check(took < 8, 'ended soon after the 1 s limit (%.1f s)' % took)
    check('before_command "echo started; exec sleep 30" killed after 1.0 s (timeouts.before_ms)' in r.stdout
          and 'started' in r.stdout, 'it says the limit killed it', r.stdout)
    check(not os.path.exists(s.record) and s.steps() == [], 'nothing else ran')


def before_interrupted(s):
    """SIGTERM while before_command runs: it is not killed half-way; its success is journaled."""
    started, ended = os.path.join(s.state, 'b-started'), os.path.join(s.state, 'b-ended')
    plan = s.cl.write_plan(s.cl.upgrade_command(s.mapfile),
                           extra='before_command = "touch %s; sleep 1.5; touch %s";' % (started, ended))
    proc, out = start_coordinator(os.path.join(s.state, 'interrupted.out'), '--plan', plan)
    try:
        wait_until(lambda: os.path.exists(started), timeout=15, message='before_command started')
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=15)
    finally:
        coordinator_cleanup(proc, out, 'interrupted')
    text = open(out.name).read()
    check(rc == 1, 'interrupted during before: exit 1', rc)
    check('interrupted by signal 15 during before_command' in text
          and 'waiting for before_command to end' in text, 'it says it waits for before_command', text)
    check(os.path.exists(ended), 'before_command was not killed half-way')
    check(s.steps() == [('', 'before')], 'its success is journaled, nothing else', s.steps())
    check(not os.path.exists(s.record), 'no upgrade ran')
    os.remove(s.journal)


def before_not_under_way(s):
    """A succeeded before_command changed no node: a capacity shortfall at the first node still
    refuses at once (exit 4), as without it, instead of waiting timeouts.capacity_ms."""
    s.cl.node('node2')['nova'].set_mode('http500')
    wait_until(lambda: all('DOWN' in lb.server('node2')['status'] for lb in s.cl.lbs), timeout=15,
               message='node2 DOWN on both load balancers')
    plan = s.cl.write_plan(s.cl.upgrade_command(s.mapfile), timeouts=dict(capacity_ms=30000),
                           extra='before_command = "true";')
    t0 = time.monotonic()
    r = s.cl.coordinator('--plan', plan)
    took = time.monotonic() - t0
    print(r.stdout, r.stderr, sep='\n')
    check(r.returncode == 4 and took < 10, 'first node short of capacity after before: exit 4 at once '
          '(%.1f s)' % took, r.returncode)
    check(s.steps() == [('', 'before')], 'journal: before only, no capacity-short', s.steps())
    s.cl.set_version('node2', '2.90')
    s.cl.wait_all_up()
    os.remove(s.journal)


def order(s):
    plan = s.plan()
    r = s.cl.coordinator('--plan', plan, '--json', '--textfile-dir', s.state, timeout=120)
    print(r.stdout[-3000:], r.stderr, sep='\n')
    check(r.returncode == 0, 'rollout with before and after: exit 0', r.returncode)
    prom = open(os.path.join(s.state, 'zdu_coordinator.prom')).read()
    for step in ('before', 'after'):
        check(re.search(r'^zdu_coordinator_step_duration_seconds\{plan="plan",node="",step="%s"\} [0-9.]+$'
                        % step, prom, re.M), 'the progress textfile shows step %s\'s duration' % step, prom)
    evs = events(r.stdout)
    b_ok = idx(evs, lambda e: e['step'] == 'before' and e['event'] == 'ok')
    first_drain = idx(evs, lambda e: e['step'] == 'drain' and e['event'] == 'ok')
    last_up = idx(evs, lambda e: e['step'] == 'wait-up' and e['event'] == 'ok', last=True)
    a_start = idx(evs, lambda e: e['step'] == 'after' and e['event'] == 'start')
    a_ok = idx(evs, lambda e: e['step'] == 'after' and e['event'] == 'ok')
    check(None not in (b_ok, first_drain, last_up, a_start, a_ok)
          and b_ok < first_drain and last_up < a_start < a_ok < len(evs) - 1,
          'events: before ok < first drain; last wait-up ok < after start < after ok < done',
          (b_ok, first_drain, last_up, a_start, a_ok))
    check(any(e['step'] == 'before' and e['event'] == 'stdout' and 'before: checking' in e['message']
              for e in evs), 'before_command\'s output comes as stdout events')
    check(evs[-1]['event'] == 'done', 'last event done', evs[-1:])
    bef, aft, ups = s.runs('before'), s.runs('after'), lines(s.record)
    check(len(bef) == 1 and len(aft) == 1, 'before and after each ran once', (len(bef), len(aft)))
    check(len(ups) == 2 and bef[0]['time'] < ups[0]['time'] and ups[-1]['time'] < aft[0]['time'],
          'timestamps: before < first upgrade, last upgrade < after',
          ([x['time'] for x in bef], [x['time'] for x in ups], [x['time'] for x in aft]))
    check(all_up(bef[0]['seen']) and all_up(aft[0]['seen']),
          'every server UP on both load balancers when before and after ran', (bef[0]['seen'], aft[0]['seen']))
    check(bef[0]['argv'] == ['nova-api', plan], '{backend} and {plan} expanded', bef[0]['argv'])
    steps = s.steps()
    check(steps[0] == ('', 'before') and steps[-2:] == [('', 'after'), ('', 'end')],
          'journal: before first, then the nodes, after, end', steps)


def resume(s):
    # node2's upgrade fails: --resume does not run before_command again.
    s.exit_with('after', 5)
    plan = s.plan(fail=['node2'])
    r = s.cl.coordinator('--plan', plan)
    print(r.stdout[-2000:], r.stderr, sep='\n')
    check(r.returncode == 1 and len(s.runs('before')) == 1, 'node2 fails after before ran once',
          r.returncode)
    s.cl.upgrade_map(fail=[])
    r = s.cl.coordinator('--plan', plan, '--resume', '--json', timeout=120)
    print(r.stdout[-3000:], r.stderr, sep='\n')
    evs = events(r.stdout)
    check(len(s.runs('before')) == 1, 'resume: before_command not run again', len(s.runs('before')))
    check(any(e['step'] == 'before' and 'already succeeded' in e['message'] for e in evs),
          'resume says before_command already succeeded')
    # after_command fails: every node is back.
    check(r.returncode == 1, 'failing after_command: exit 1', r.returncode)
    fail = [e for e in evs if e['event'] == 'fail']
    check(fail and fail[0]['step'] == 'after' and 'after_command' in fail[0]['message']
          and 'exited with status 5' in fail[0]['message'], 'after fails with its status', fail)
    nxt = [e for e in evs if e['event'] == 'next']
    check(nxt and 'every node is already upgraded and back in service' in nxt[0]['message']
          and '--resume' in nxt[0]['message'], 'next: every node is back, --resume', nxt)
    steps = s.steps()
    check(('node1', 'done') in steps and ('node2', 'done') in steps and ('', 'after') not in steps
          and ('', 'end') not in steps, 'journal: nodes done, after and end not', steps)
    st = s.cl.coordinator('--plan', plan, '--status', '--json')
    print(st.stdout, st.stderr)
    o = json.loads(st.stdout)
    check(o.get('before') == 'done' and o.get('after') == 'not run' and 'after_command' in o['next'],
          '--status: before done, after not, next names after_command', o)
    # Fixed: --resume runs only after_command.
    s.exit_with('after', 0)
    ups = len(lines(s.record))
    logs = {n['name']: n['agent'].log_size() for n in s.cl.nodes}
    r = s.cl.coordinator('--plan', plan, '--resume', '--json', timeout=120)
    print(r.stdout[-3000:], r.stderr, sep='\n')
    check(r.returncode == 0, 'resume after all nodes: exit 0', r.returncode)
    evs = events(r.stdout)
    check(len(lines(s.record)) == ups and len(s.runs('before')) == 1 and len(s.runs('after')) == 2,
          'only after_command ran (upgrades %d, before %d, after %d)'
          % (len(lines(s.record)), len(s.runs('before')), len(s.runs('after'))))
    check(not any(e['step'] in ('drain', 'upgrade') for e in evs), 'no node step ran')
    for n in s.cl.nodes:
        changes = n['agent'].reply_changes(logs[n['name']])
        check(not any('drain' in rep for _, rep in changes), '%s not drained again' % n['name'], changes)
    check(s.steps()[-2:] == [('', 'after'), ('', 'end')], 'journal: after, then end', s.steps()[-2:])


def run():
    with Cluster(nodes=2, lbs=2, base=141) as cl:
        s = Setup(cl)
        dry_run(s)
        before_fails(s)
        before_timeout(s)
        check(len(s.runs('before')) == 1, 'the failed before_command ran once')
        before_interrupted(s)
        before_not_under_way(s)
        s.reset()
        order(s)
        s.reset()
        resume(s)


if __name__ == '__main__':
    main(run)
