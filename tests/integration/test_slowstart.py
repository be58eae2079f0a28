#!/usr/bin/python3
"""Slow start: after maintenance off (or the node turning healthy), the reply's weight
ramps linearly from slowstart.start_percent to 100 over slowstart.duration_ms.

slowstart.duration_ms 2000, start_percent 10. Sampling the agent-check reply every ~10 ms:

  * probe disabled: maintenance on (CLI) -> 'up drain #maintenance: ...', weight_percent 10 in
    the status; maintenance off (CLI) -> 'up ready N%' with N starting at 10, never
    decreasing, never above 10 + 90 * t / 2000 (t measured from just before the CLI call:
    the ramp cannot have started earlier, so this bound holds on any machine), reaching 100
    no earlier than 2 s and no later than 2 s + 1.5 s slack, through many intermediate
    values, with a fitted slope of about 45 %/s;
  * maintenance on in the middle of a ramp resets it: weight_percent 10 at once, and the
    next maintenance off starts again from 10;
  * probe enabled (fake nova, rise 2, fall 3): until the first result the weight rests at
    10 ('ready 10% #nova-api: not probed yet'); nova failing -> 'down ready 10% #...';
    healthy again -> 'up ready N% #nova-api 2.93' ramping from 10 to 100, no 100% before.
"""

import re
import time

from agentlib import Agent, check, main
from probelib import NovaProc, probe_settings, stop_clean, watch, weight_of
from testutil import tempdir

DURATION_S, START = 2.0, 10
SLACK_S = 1.5


def ramp_bound(t):
    """The highest weight the ramp may show t seconds after the event (floor)."""
    if t >= DURATION_S:
        return 100
    return START + int((100 - START) * max(t, 0.0) / DURATION_S)


def sample_ramp(agent, t0, pattern, what):
    """Sample replies until 100%; return [(t, weight)]. Every reply must match PATTERN
    (a regex with one group: the weight)."""
    samples = []
    deadline = t0 + DURATION_S + SLACK_S
    while True:
        r = agent.reply()
        t = time.monotonic() - t0
        m = re.fullmatch(pattern, r)
        if not m:
            raise AssertionError('%s: reply %r at %.3fs does not match %r' % (what, r, t, pattern))
        w = int(m.group(1))
        samples.append((t, w))
        if w >= 100:
            return samples
        if time.monotonic() > deadline:
            raise AssertionError('%s: weight %d%% after %.2fs, not 100%% within %.1fs + %.1fs'
                                 % (what, w, t, DURATION_S, SLACK_S))
        time.sleep(0.01)


def check_ramp(samples, what):
    ws = [w for _, w in samples]
    check(ws[0] <= ramp_bound(samples[0][0]) and ws[0] < 50,
          '%s: the first reply has the low weight (%d%% at %.3fs)' % (what, ws[0], samples[0][0]))
    check(all(b >= a for a, b in zip(ws, ws[1:])), '%s: the weight never decreases' % what, ws)
    bad = [(round(t, 3), w) for t, w in samples if w > ramp_bound(t) + 1]
    check(not bad, '%s: never above 10 + 90 * t / 2 s' % what, bad[:5])
    t100 = samples[-1][0]
    check(t100 >= DURATION_S - 0.02, '%s: 100%% not before %.1fs (at %.3fs)' % (what, DURATION_S,
                                                                              t100))
    check(t100 <= DURATION_S + SLACK_S, '%s: 100%% within %.1fs + %.1fs (at %.3fs)'
          % (what, DURATION_S, SLACK_S, t100))
    distinct = sorted(set(ws))
    check(len(distinct) >= 8, '%s: many intermediate weights (%d distinct)' % (what, len(distinct)),
          distinct)
    # least-squares slope over the ramp part (10 < w < 100)
    pts = [(t, w) for t, w in samples if START < w < 100]
    if len(pts) >= 5:
        n = len(pts)
        mt = sum(t for t, _ in pts) / n
        mw = sum(w for _, w in pts) / n
        slope = (sum((t - mt) * (w - mw) for t, w in pts)
                 / max(1e-9, sum((t - mt) ** 2 for t, _ in pts)))
        want = (100 - START) / DURATION_S
        check(0.7 * want <= slope <= 1.3 * want,
              '%s: linear, slope %.1f %%/s (want %.1f)' % (what, slope, want))
    print('timing: %s: %d samples, first %d%% at %.3fs, 100%% at %.3fs, weights %s'
          % (what, len(samples), ws[0], samples[0][0], t100, distinct), flush=True)


def cli_ok(agent, *args):
    r = agent.cli(*args)
    if r.returncode != 0:
        raise AssertionError('zdu-agent %s: exit %d: %s %s' % (' '.join(args), r.returncode,
                                                               r.stdout, r.stderr))
    return r


def maintenance_part():
    settings = {'slowstart': {'duration_ms': int(DURATION_S * 1000), 'start_percent': START}}
    with Agent(settings=settings, name='ss-maint') as a:
        check(a.reply() == 'up ready 100%', 'at start (serving, no event) the full weight',
              a.reply())
        cli_ok(a, '--maintenance', 'on', '--reason', 'upgrade')
        check(a.reply() == 'up drain #maintenance: upgrade', 'maintenance on: drain', a.reply())
        check(a.status()['weight_percent'] == START, 'maintenance on: weight_percent %d' % START)

        t0 = time.monotonic()
        cli_ok(a, '--maintenance', 'off')
        s = sample_ramp(a, t0, r'up ready (\d+)%', 'maintenance off')
        check_ramp(s, 'maintenance off')
        check(a.status()['weight_percent'] == 100, 'status weight_percent 100 at the end')

        # maintenance on in the middle of a ramp resets it
        cli_ok(a, '--maintenance', 'on', '--reason', 'again')
        t0 = time.monotonic()
        cli_ok(a, '--maintenance', 'off')
        mid = []
        while time.monotonic() - t0 < DURATION_S / 2:
            mid.append(weight_of(a.reply()))
            time.sleep(0.02)
        check(START < mid[-1] < 100, 'half-way through the second ramp: %d%%' % mid[-1], mid)
        cli_ok(a, '--maintenance', 'on', '--reason', 'stop the ramp')
        st = a.status()
        check(st['weight_percent'] == START and st['reply'] == 'up drain #maintenance: stop the ramp',
              'maintenance on mid-ramp: weight reset to %d%% at once' % START,
              (st['weight_percent'], st['reply']))
        time.sleep(0.3)
        check(a.status()['weight_percent'] == START, 'the ramp does not go on behind the flag')
        t0 = time.monotonic()
        cli_ok(a, '--maintenance', 'off')
        s = sample_ramp(a, t0, r'up ready (\d+)%', 'maintenance off after a reset')
        check_ramp(s, 'maintenance off after a reset')

        # mode maint, too
        cli_ok(a, '--maintenance', 'on', '--mode', 'maint', '--reason', 'hard')
        check(a.reply() == 'up maint #maintenance: hard' and a.status()['weight_percent'] == START,
              'maintenance (maint) on: weight reset', a.reply())
        t0 = time.monotonic()
        cli_ok(a, '--maintenance', 'off')
        s = sample_ramp(a, t0, r'up ready (\d+)%', 'maint off')
        check_ramp(s, 'maint off')
        stop_clean(a)


def probe_part():
    wd = tempdir('zdu-it-ss-')
    nova = NovaProc(wd, mode='healthy', delay_ms=500)
    try:
        # nova answers after 500 ms: the reply before the first result can be read
        settings = probe_settings(nova.url, interval_ms=1000, timeout_ms=800,
                                  connect_timeout_ms=150, rise=2, fall=3)
        settings['slowstart'] = {'duration_ms': int(DURATION_S * 1000), 'start_percent': START}
        with Agent(settings=settings, name='ss-probe') as a:
            r = a.reply()
            check(r == 'ready %d%% #nova-api: not probed yet' % START,
                  'before the first probe result the weight rests at %d%%' % START, r)
            snaps, _ = watch(a, lambda x: x['reply'].startswith('up'), timeout=10,
                             what='first result')
            t0 = time.monotonic() - 0.02   # the change happened before we saw it
            s = sample_ramp(a, t0, r'up ready (\d+)% #nova-api 2\.93', 'first healthy result')
            check(s[0][1] < 50, 'the first up reply has the low weight', s[:3])
            stop_clean(a)

        nova.set_mode('healthy')
        settings['probe'].update(interval_ms=200, timeout_ms=150)
        with Agent(settings=settings, name='ss-probe2') as a:
            watch(a, lambda x: x['reply'] == 'up ready 100% #nova-api 2.93', timeout=10,
                  what='ramped to 100')
            nova.set_mode('http500')
            snaps, _ = watch(a, lambda x: x['reply'].startswith('down'), timeout=10,
                             what='down')
            check(snaps[-1]['reply'] == 'down ready %d%% #nova-api: HTTP 500' % START,
                  'down: the weight is reset to %d%%' % START, snaps[-1]['reply'])
            nova.set_mode('healthy')
            snaps, _ = watch(a, lambda x: x['reply'].startswith('up'), timeout=10,
                             what='up again', interval=0.005)
            t0 = time.monotonic() - 0.02
            check(all(weight_of(x['reply']) == START for x in snaps[:-1]),
                  'while down the weight stays %d%%' % START)
            first = snaps[-1]['reply']
            check(weight_of(first) < 50, 'healthy again: the first up reply has the low weight',
                  first)
            s = sample_ramp(a, t0, r'up ready (\d+)% #nova-api 2\.93', 'healthy again')
            ws = [w for _, w in s]
            check(all(b >= a_ for a_, b in zip(ws, ws[1:])) and ws[-1] == 100,
                  'healthy again: ramps monotonically to 100%', ws)
            print('timing: healthy again: first up reply %r, 100%% after %.2fs'
                  % (first, s[-1][0]), flush=True)
            stop_clean(a)
    finally:
        nova.stop()


def run():
    maintenance_part()
    probe_part()


if __name__ == '__main__':
    main(run)
