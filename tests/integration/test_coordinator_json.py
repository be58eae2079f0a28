#!/usr/bin/python3
"""zdu-coordinator's output, for programs and for people.

--json: every line of stdout is one JSON object with exactly the keys time, node, step, event,
message (time as 2026-01-02T03:04:05.678Z, in order; node and step null only for the rollout's
own lines). Every node has its start and ok events for each step: preflight, drain,
wait-drained, upgrade, wait-healthy, undrain, wait-up; the upgrade command's output comes as
stdout events; the last event is done.
Human mode (a second rollout of the same plan): every line starts with that timestamp, then
the node and the step; the same steps appear for every node."""
import datetime
import json
import re
import subprocess

from agentlib import check, main
from clusterlib import Cluster, coordinator_binary

STEPS = ('preflight', 'drain', 'wait-drained', 'upgrade', 'wait-healthy', 'undrain', 'wait-up')
TIME_RE = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$')
HUMAN_RE = re.compile(r'^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (\S.*)$')


def when(t):
    return datetime.datetime.strptime(t, '%Y-%m-%dT%H:%M:%S.%fZ')


def run():
    with Cluster(nodes=3, lbs=2) as cl:
        mapfile, record = cl.upgrade_map()
        plan = cl.write_plan(cl.upgrade_command(mapfile), expect_version='2.93')
        r = cl.coordinator('--plan', plan, '--json', timeout=180)
        print(r.stdout[-3000:], r.stderr, sep='\n')
        check(r.returncode == 0, 'json rollout exit 0', r.returncode)
        check(r.stderr == '', 'nothing on stderr', r.stderr)
        lines = r.stdout.splitlines()
        check(len(lines) > 20, 'many lines', len(lines))
        events, bad = [], []
        for i, line in enumerate(lines):
            try:
                o = json.loads(line)
            except ValueError as e:
                bad.append('line %d is not JSON (%s): %r' % (i + 1, e, line))
                continue
            if not isinstance(o, dict) or sorted(o) != ['event', 'message', 'node', 'step', 'time']:
                bad.append('line %d: not an object with time/node/step/event/message: %r'
                           % (i + 1, line))
            elif not TIME_RE.match(o['time']) or not isinstance(o['message'], str) \
                    or not isinstance(o['event'], str):
                bad.append('line %d: bad time, event or message: %r' % (i + 1, line))
            else:
                events.append(o)
        check(not bad, 'every line is one JSON object with the five keys (%d lines)' % len(lines),
              bad[:5])
        times = [when(e['time']) for e in events]
        check(times == sorted(times), 'times never go back')
        check(events[0]['node'] is None and events[0]['event'] == 'start', 'first event: start',
              events[0])
        check(events[-1]['node'] is None and events[-1]['event'] == 'done', 'last event: done',
              events[-1])
        for e in events:
            if e['node'] is None:
                check(e['step'] is None, 'a rollout-level line has no step', e)
        for name in ('node1', 'node2', 'node3'):
            mine = [e for e in events if e['node'] == name]
            check(all(e['step'] in STEPS for e in mine), '%s: only known steps' % name,
                  sorted(set(e['step'] for e in mine)))
            for step in STEPS:
                ok = [e for e in mine if e['step'] == step and e['event'] == 'ok']
                check(len(ok) == 1, '%s: one ok event for %s' % (name, step), ok)
            for step in ('preflight', 'upgrade'):
                check(any(e['step'] == step and e['event'] == 'start' for e in mine),
                      '%s: a start event for %s' % (name, step))
            order = [e['step'] for e in mine if e['event'] == 'ok']
            check(order == list(STEPS), '%s: steps ok in order' % name, order)
            out = [e['message'] for e in mine if e['event'] == 'stdout']
            check(any(m.startswith('| upgrading %s' % name) for m in out),
                  '%s: the upgrade command\'s output as stdout events' % name, out)

        # Human mode: the same plan again (the journal ended, so it is a new rollout).
        cl.wait_all_up(timeout=15)
        r = cl.coordinator('--plan', plan, timeout=180)
        print(r.stdout[-3000:], r.stderr, sep='\n')
        check(r.returncode == 0, 'human rollout exit 0', r.returncode)
        lines = r.stdout.splitlines()
        bad = [line for line in lines if not HUMAN_RE.match(line)]
        check(lines and not bad, 'every human line starts with a timestamp', bad[:3])
        check(not any(line.lstrip().startswith('{') for line in lines), 'no JSON in human mode')
        stamps = [when(HUMAN_RE.match(line).group(1)) for line in lines]
        check(stamps == sorted(stamps), 'human timestamps never go back')
        for name in ('node1', 'node2', 'node3'):
            for step in STEPS:
                pat = re.compile(r'^\S+ %s +%s +\S' % (re.escape(name), re.escape(step)))
                check(any(pat.match(line) for line in lines), '%s: a "%s" line' % (name, step))
        check('rollout complete: 3 nodes upgraded' in lines[-1], 'last line says done', lines[-1])


def fixed_bugs():
    """--json drops every line whose text is not valid UTF-8: json_pack() in say() fails and
    an empty line is printed instead. An upgrade command printing Latin-1 (dpkg, a localized tool) loses
    those lines, with no trace, in the very log an operator reads after a failure."""
    with Cluster(nodes=2, lbs=1) as cl:
        mapfile, record = cl.upgrade_map()
        cmd = "printf 'before\\n'; printf 'caf\\351 latin1\\n'; printf 'after\\n'; " \
            + cl.upgrade_command(mapfile)
        plan = cl.write_plan(cmd)
        r = subprocess.run([coordinator_binary(), '--plan', plan, '--json'], capture_output=True,
                           timeout=180)
        out = r.stdout.decode('utf-8', 'replace')
        print(out[-3000:])
        check(r.returncode == 0, 'rollout exit 0', r.returncode)
        bad = [line for line in out.splitlines() if not line.startswith('{')]
        events = [json.loads(line) for line in out.splitlines() if line.startswith('{')]
        msgs = [e['message'] for e in events if e['node'] == 'node1' and e['event'] == 'stdout']
        check(any('| before' == m for m in msgs) and any('| after' == m for m in msgs),
              'the valid lines are there', msgs)
        check(not bad, 'every line is a JSON object (no empty line in its place)', bad)
        check(any('latin1' in m for m in msgs), 'the Latin-1 line is in the JSON output too', msgs)


def run_all():
    run()
    fixed_bugs()


if __name__ == '__main__':
    main(run_all)
