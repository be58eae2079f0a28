#!/usr/bin/python3
"""The nova-api probe against a fault-injecting fake nova (tests/lib/fake_nova.py).

probe.interval_ms 400, timeout_ms 300, rise 2, fall 3. For every fault mode (http500,
refused, hang, trickle, badjson, oversized, wrong, html; plus badjson kind=garbage,
wrong variant=missing, close and reset):

  * from healthy ('up ready 100% #nova-api 2.93'), the reply turns
    'down ready 100% #nova-api: <exact reason>' at the probe where fail_streak reaches
    exactly `fall`, never before (every status snapshot taken meanwhile is checked: the
    reply and the counters come from the same instant of the daemon);
  * back to healthy, the reply returns to 'up ready 100% #nova-api 2.93' at the probe
    where ok_streak reaches exactly `rise`, never before;
  * the agent-check reply read over TCP agrees with the status snapshot.

probe.on_failure drain ('up drain #nova-api: HTTP 500') and zero ('up ready 0% #nova-api:
HTTP 500'): the same transitions with their tokens.

Before the first probe result the reply has no up/down token ('ready 100% #nova-api: not
probed yet'); the first result decides at once (one failure -> down with fall 3; one
success -> up with rise 2), hysteresis applies from then on.

Wall times from the fault switch to the reply change are printed (they depend on the
interval); the assertions are on probe counts, not on time.

hang and trickle accept the connection and never finish the answer: since issue 15 that is a
*slow* nova-api, which keeps an up node up until probe.dead_after_ms (tests/integration/
test_probe_slow.py). This test runs with probe.dead_after_ms = 0, which makes a slow probe a
failure like any other, so that every fault here still goes down after exactly `fall`.
"""

import time

from agentlib import Agent, check, main
from probelib import HEALTHY_REPLY, NovaProc, op_token, probe_settings, short, stop_clean, watch
from testutil import tempdir

INTERVAL, TIMEOUT, RISE, FALL = 400, 300, 2, 3

FAULTS = [
    ('http500', {}, 'nova-api: HTTP 500'),
    ('refused', {}, 'nova-api: connection refused'),
    ('hang', {}, 'nova-api: timeout after %d ms' % TIMEOUT),
    ('trickle', {}, 'nova-api: timeout after %d ms' % TIMEOUT),
    ('badjson', {}, 'nova-api: invalid JSON at byte 37'),
    ('oversized', {}, 'nova-api: body over 65536 bytes'),
    ('wrong', {}, 'nova-api: version status SUPPORTED, not CURRENT'),
    ('html', {}, 'nova-api: invalid JSON at byte 1'),
    # variants and extra modes
    ('badjson', {'kind': 'garbage'}, 'nova-api: invalid JSON at byte 38'),
    ('wrong', {'variant': 'missing'}, 'nova-api: no version object in the answer'),
    ('http500', {'code': 503}, 'nova-api: HTTP 503'),
    ('close', {}, 'nova-api: empty answer'),
    ('reset', {}, 'nova-api: connection reset'),
]

TIMINGS = []


def transition(agent, before, after_pred, streak_key, want_streak, what, timeout):
    """Poll status until after_pred(snapshot). Every earlier snapshot must satisfy
    before(snapshot); the first one that satisfies after_pred must show exactly
    want_streak in probe[streak_key], provided it is exactly one probe after the
    previous snapshot. Returns (first_after_snapshot, seconds) or None when the
    machine was too slow to see that probe alone (the caller retries)."""
    snaps, secs = watch(agent, after_pred, timeout=timeout, what=what)
    for s in snaps[:-1]:
        if not before(s):
            raise AssertionError('%s: unexpected snapshot before the change: reply %r, %r'
                                 % (what, s['reply'], short(s)))
    last = snaps[-1]
    prev = snaps[-2] if len(snaps) > 1 else None
    if prev is None or last['probe']['probes'] != prev['probe']['probes'] + 1:
        print('note: %s: the change was not seen one probe after the previous snapshot '
              '(%r -> %r); retrying' % (what, prev and short(prev), short(last)), flush=True)
        return None
    if last['probe'][streak_key] != want_streak:
        raise AssertionError('%s: reply changed at %s=%d, want exactly %d: %r -> %r'
                             % (what, streak_key, last['probe'][streak_key], want_streak,
                                prev['reply'], short(last)))
    if prev['probe'][streak_key] != want_streak - 1:
        raise AssertionError('%s: the probe before the change had %s=%d, want %d'
                             % (what, streak_key, prev['probe'][streak_key], want_streak - 1))
    return last, secs


def settle_healthy(agent, healthy):
    """Wait for the healthy reply with a success as the last probe result."""
    watch(agent, lambda s: s['reply'] == healthy and s['probe']['fail_streak'] == 0
          and s['probe']['ok_streak'] >= 1, timeout=30, what='healthy reply %r' % healthy)


def fault_round(agent, nova, mode, params, reason, healthy, faulty):
    label = mode + ''.join(' %s=%s' % kv for kv in sorted(params.items()))
    for attempt in range(3):
        nova.set_mode('healthy')
        settle_healthy(agent, healthy)
        s0 = agent.status()
        t0 = time.monotonic()
        nova.set_mode(mode, **params)
        res = transition(
            agent, before=lambda s: s['reply'] == healthy and s['probe']['fail_streak'] < FALL,
            after_pred=lambda s: s['reply'] != healthy, streak_key='fail_streak',
            want_streak=FALL, what='%s: healthy -> faulty' % label, timeout=30)
        if res is None:
            continue
        down, _ = res
        t_down = time.monotonic() - t0
        check(down['reply'] == faulty, '%s: reply %r' % (label, faulty), down['reply'])
        check(down['probe']['last_reason'] == reason and down['probe']['last_ok'] is False,
              '%s: probe.last_reason %r' % (label, reason), short(down))
        check(down['health']['state'] == 'down' and down['health']['reason'] == reason,
              '%s: health.state down, health.reason' % label, down['health'])
        nfail = down['probe']['failures'] - s0['probe']['failures']
        check(nfail == FALL, '%s: exactly %d failed probes since the switch' % (label, FALL),
              (nfail, short(s0), short(down)))
        tcp = agent.reply()
        check(tcp == faulty, '%s: the agent-check reply over TCP agrees' % label, tcp)
        check(down['probe']['version'] == '2.93',
              '%s: the last good version stays known in the status' % label, down['probe'])

        # ---- back to healthy
        t1 = time.monotonic()
        nova.set_mode('healthy')
        res = transition(
            agent, before=lambda s: s['reply'] != healthy and s['probe']['ok_streak'] < RISE
            and op_token(s['reply']) == op_token(faulty)
            and s['reply'].split('#')[0] == faulty.split('#')[0],
            after_pred=lambda s: s['reply'] == healthy, streak_key='ok_streak',
            want_streak=RISE, what='%s: faulty -> healthy' % label, timeout=30)
        if res is None:
            continue
        up, _ = res
        t_up = time.monotonic() - t1
        check(up['probe']['last_ok'] is True and up['probe']['last_http'] == 200
              and up['health']['state'] == 'up' and up['health']['version'] == '2.93'
              and up['health']['min_version'] == '2.1',
              '%s: healthy again after exactly %d good probes (version 2.93, min 2.1)'
              % (label, RISE), (up['health'], short(up)))
        TIMINGS.append((label, t_down, t_up))
        print('timing: %-22s -> %-16s %.2fs (%d probes), back %.2fs (%d probes)'
              % (label, faulty.split(' #')[0], t_down, FALL, t_up, RISE), flush=True)
        return
    raise AssertionError('%s: no clean observation in 3 attempts (machine too slow?)' % label)


def before_first_result(wd):
    """Until the first result the reply has no up/down token; the first result decides."""
    nova = NovaProc(wd, name='fake-nova-first', mode='hang')
    try:
        slow = probe_settings(nova.url, interval_ms=3000, timeout_ms=1500,
                              connect_timeout_ms=1500)
        with Agent(settings=slow, name='first-fail') as a:
            s = a.status()
            r = a.reply()
            check(s['probe']['probes'] == 0 and s['health']['state'] == 'unknown',
                  'before the first result: no probe finished, health unknown', short(s))
            check(op_token(r) is None and r == 'ready 100% #nova-api: not probed yet',
                  'before the first result: administrative token only', r)
            snaps, _ = watch(a, lambda x: x['probe']['probes'] >= 1, timeout=10,
                             what='first probe result')
            check(all(op_token(x['reply']) is None for x in snaps[:-1]),
                  'no up/down token in any reply before the first result')
            first = snaps[-1]
            check(first['probe']['probes'] == 1 and first['probe']['fail_streak'] == 1
                  and first['reply'] == 'down ready 100% #nova-api: timeout after 1500 ms',
                  'a first failure decides down at once (fall %d)' % FALL,
                  (first['reply'], short(first)))
            stop_clean(a)
        nova.set_mode('healthy', delay_ms=700)
        with Agent(settings=slow, name='first-ok') as a:
            r = a.reply()
            check(op_token(r) is None and r == 'ready 100% #nova-api: not probed yet',
                  'before the first (slow) success: administrative token only', r)
            snaps, _ = watch(a, lambda x: x['probe']['probes'] >= 1, timeout=10,
                             what='first probe result')
            first = snaps[-1]
            check(first['probe']['probes'] == 1 and first['probe']['ok_streak'] == 1
                  and first['reply'] == HEALTHY_REPLY,
                  'a first success decides up at once (rise %d)' % RISE,
                  (first['reply'], short(first)))
            stop_clean(a)
    finally:
        nova.stop()


def run():
    wd = tempdir('zdu-it-probe-')
    before_first_result(wd)

    nova = NovaProc(wd)
    try:
        settings = probe_settings(nova.url, interval_ms=INTERVAL, timeout_ms=TIMEOUT,
                                  connect_timeout_ms=TIMEOUT, rise=RISE, fall=FALL,
                                  dead_after_ms=0)   # hang/trickle: slow counts as failed
        settings['log'] = {'level': 'debug'}
        with Agent(settings=settings, name='down') as a:
            s = a.status()
            check(s['probe']['rise'] == RISE and s['probe']['fall'] == FALL
                  and s['on_failure'] == 'down', 'status shows rise, fall, on_failure', short(s))
            for mode, params, reason in FAULTS:
                fault_round(a, nova, mode, params, reason, HEALTHY_REPLY,
                            'down ready 100% #' + reason)
            nova.set_mode('healthy')
            settle_healthy(a, HEALTHY_REPLY)
            check(a.running(), 'the agent survived every fault')
            stop_clean(a)

        for action, faulty in (('drain', 'up drain #nova-api: HTTP 500'),
                               ('zero', 'up ready 0% #nova-api: HTTP 500')):
            st = dict(settings)
            st['probe'] = dict(settings['probe'], on_failure=action)
            with Agent(settings=st, name=action) as a:
                check(a.status()['on_failure'] == action, 'on_failure %s configured' % action)
                fault_round(a, nova, 'http500', {}, 'nova-api: HTTP 500', HEALTHY_REPLY, faulty)
                fault_round(a, nova, 'refused', {}, 'nova-api: connection refused', HEALTHY_REPLY,
                            faulty.replace('HTTP 500', 'connection refused'))
                stop_clean(a)
    finally:
        nova.stop()

    print('summary: interval %d ms, timeout %d ms, rise %d, fall %d' % (INTERVAL, TIMEOUT, RISE,
                                                                       FALL))
    downs = [t[1] for t in TIMINGS]
    ups = [t[2] for t in TIMINGS]
    print('summary: healthy -> unhealthy %.2f..%.2f s, unhealthy -> healthy %.2f..%.2f s '
          '(%d rounds)' % (min(downs), max(downs), min(ups), max(ups), len(TIMINGS)), flush=True)


def fixed_bugs():
    """Regression checks of two fixed agent bugs.

    1. probe.timeout_ms == probe.interval_ms passes the configuration check (config.c:
       timeout > interval is refused, equal is not), but against a hanging nova the tick
       fires while curl's request is still in flight and probe.c on_tick() skips the
       cycle: one probe every two intervals, so detection takes twice `fall` intervals.
    2. http_proxy in the agent's environment captures the probe of the local nova-api
       (http.c sets no CURLOPT_PROXY/NOPROXY): a healthy node is reported down.
    Both checks run; the first failure is raised at the end."""
    import os
    wd = tempdir('zdu-it-probe-bugs-')
    nova = NovaProc(wd, mode='hang')
    errors = []
    try:
        st = probe_settings(nova.url, interval_ms=400, timeout_ms=400, connect_timeout_ms=300)
        with Agent(settings=st, name='equal') as a:
            watch(a, lambda s: s['probe']['probes'] >= 1, timeout=10)
            p0 = a.status()['probe']['probes']
            time.sleep(4.0)
            n = a.status()['probe']['probes'] - p0
            print('timeout == interval == 400 ms, nova hangs: %d probes in 4 s (want ~10)' % n)
            if n < 8:
                errors.append('timeout_ms == interval_ms: only %d probe cycles in 4 s' % n)
        nova.set_mode('healthy')
        os.environ['http_proxy'] = 'http://127.0.0.1:9'    # discard port: nobody there
        try:
            with Agent(settings=probe_settings(nova.url), name='proxy') as a:
                snaps, _ = watch(a, lambda s: s['probe']['probes'] >= 2, timeout=10)
                r = snaps[-1]['reply']
                print('http_proxy=http://127.0.0.1:9 in the environment: %r' % r)
                if r != HEALTHY_REPLY:
                    errors.append('http_proxy captured the probe: %r' % r)
        finally:
            del os.environ['http_proxy']
    finally:
        nova.stop()
    if errors:
        raise AssertionError('; '.join(errors))


def run_all():
    run()
    fixed_bugs()


if __name__ == '__main__':
    main(run_all)
