#!/usr/bin/python3
"""The agent probing a real nova-api (Debian 12 python3-nova under uwsgi, tests/nova).

  * tests/nova/install-deps (idempotent); if python3-nova cannot be installed the test
    is skipped with exit code 77 (and only then);
  * nova-node setup (with the opt-in working healthcheck, ZDU_NOVA_HEALTHCHECK_PATH=
    /v2.1/healthcheck) + start on 127.0.0.11 with a free port; startup time printed;
  * the agent (interval 1000 ms, timeout 800 ms, rise 2, fall 3, healthcheck_url
    /v2.1/healthcheck): 'up ready 100% #nova-api V', status version V / min 2.1, V the installed
    release's maximum (2.93 on Debian 12, 2.100 on Debian 13);
  * touch DIR/healthcheck_disable -> 'up drain #nova-api: healthcheck disabled by file...',
    remove it -> ready again;
  * nova-node stop -> 'down ready 100% #nova-api: ...' at the probe where fail_streak
    reaches 3, within fall intervals (+ one interval and the timeout for the probe in
    flight, + slack); the time is printed;
  * nova-node start -> 'up ready 100% #nova-api V' at the probe where ok_streak reaches 2;
  * restarted with MAX_VERSION 2.90 (an older release): 'up ready 100% #nova-api 2.90'.
"""

import os
import time

from agentlib import Agent, check, check_within, main
from probelib import (REAL_HEALTHY_REPLY as HEALTHY_REPLY, installed_nova_max, nova_node,
                      probe_settings, real_nova_or_skip, short, stop_clean, watch)
from testutil import free_port, tempdir

ADDR = '127.0.0.11'
INTERVAL_S, TIMEOUT_S, RISE, FALL = 1.0, 0.8, 2, 3
SLACK_S = 2.0


def first_change(agent, before_pred, after_pred, key, want, what, timeout):
    """Watch status until after_pred; the first snapshot after the change must be
    exactly one probe after the one before it and show probe[key] == want."""
    snaps, secs = watch(agent, after_pred, timeout=timeout, what=what, interval=0.02)
    for s in snaps[:-1]:
        if not before_pred(s):
            raise AssertionError('%s: unexpected %r %r' % (what, s['reply'], short(s)))
    last = snaps[-1]
    if len(snaps) > 1 and last['probe']['probes'] == snaps[-2]['probe']['probes'] + 1:
        check(last['probe'][key] == want, '%s: at %s == %d exactly' % (what, key, want),
              short(last))
    else:
        check(last['probe'][key] >= want, '%s: %s >= %d' % (what, key, want), short(last))
    return last, secs


def run():
    real_nova_or_skip()
    wd = tempdir('zdu-it-nova-')
    node = os.path.join(wd, 'n1')
    port = free_port(ADDR)
    dt = nova_node('setup', node, env={'ZDU_NOVA_HEALTHCHECK_PATH': '/v2.1/healthcheck'})
    print('timing: nova-node setup %.2fs' % dt, flush=True)
    try:
        dt = nova_node('start', node, ADDR, port)
        print('timing: real nova-api startup (start to first 200 on /v2.1/) %.2fs' % dt,
              flush=True)
        base = 'http://%s:%d' % (ADDR, port)
        settings = probe_settings(base + '/v2.1/', interval_ms=int(INTERVAL_S * 1000),
                                  timeout_ms=int(TIMEOUT_S * 1000), connect_timeout_ms=500,
                                  rise=RISE, fall=FALL,
                                  healthcheck_url=base + '/v2.1/healthcheck')
        with Agent(settings=settings) as a:
            snaps, secs = watch(a, lambda s: s['reply'] == HEALTHY_REPLY, timeout=15,
                                what='healthy reply from the real nova')
            s = snaps[-1]
            check(s['probe']['version'] == installed_nova_max() and s['probe']['min_version'] == '2.1'
                  and s['probe']['last_http'] == 200 and s['probe']['healthcheck_http'] == 200,
                  'real nova: %r, version %s, min 2.1, healthcheck 200' % (HEALTHY_REPLY, installed_nova_max()),
                  s['probe'])
            print('timing: real nova probe latency %d ms' % s['probe']['last_latency_ms'],
                  flush=True)

            # ---- oslo healthcheck disabled by file
            flag = os.path.join(node, 'healthcheck_disable')
            open(flag, 'w').close()
            snaps, secs = watch(a, lambda s: s['reply'] != HEALTHY_REPLY, timeout=10,
                                what='drain by the healthcheck file')
            check(snaps[-1]['reply'].startswith('up drain #nova-api: healthcheck disabled by file'),
                  'real nova healthcheck disabled by file: drained after %.2fs' % secs,
                  snaps[-1]['reply'])
            check(snaps[-1]['probe']['healthcheck_http'] == 503, 'real healthcheck said 503')
            os.unlink(flag)
            check_within(lambda: a.status()['reply'] == HEALTHY_REPLY, 10,
                         'healthcheck file removed: ready again', interval=0.01,
                         detail=lambda: (a.status()['reply'], short(a.status())))

            # ---- stop nova -> down
            watch(a, lambda s: s['reply'] == HEALTHY_REPLY and s['probe']['fail_streak'] == 0,
                  timeout=10)
            t0 = time.monotonic()
            dt_stop = nova_node('stop', node)
            t_stopped = time.monotonic()
            down, _ = first_change(
                a, lambda s: s['reply'] == HEALTHY_REPLY, lambda s: s['reply'] != HEALTHY_REPLY,
                'fail_streak', FALL, 'nova stopped -> down', timeout=30)
            t_down = time.monotonic()
            check(down['reply'].startswith('down ready 100% #nova-api: '),
                  'nova stopped: %r' % down['reply'])
            limit = FALL * INTERVAL_S + INTERVAL_S + TIMEOUT_S + SLACK_S
            print('timing: nova-node stop took %.2fs; down %.2fs after stop returned '
                  '(%.2fs after it began); reason %r'
                  % (dt_stop, t_down - t_stopped, t_down - t0, down['probe']['last_reason']),
                  flush=True)
            check(t_down - t_stopped <= limit,
                  'down within fall intervals (%.2fs <= %.1fs)' % (t_down - t_stopped, limit))

            # ---- start again -> up after rise
            t0 = time.monotonic()
            dt_start = nova_node('start', node, ADDR, port)
            t_started = time.monotonic()
            up, _ = first_change(
                a, lambda s: s['reply'].startswith('down'), lambda s: s['reply'] == HEALTHY_REPLY,
                'ok_streak', RISE, 'nova started -> up', timeout=30)
            t_up = time.monotonic()
            limit = RISE * INTERVAL_S + INTERVAL_S + SLACK_S
            print('timing: nova-node start (restart) took %.2fs; up %.2fs after it answered'
                  % (dt_start, t_up - t_started), flush=True)
            check(t_up - t_started <= limit,
                  'up again within rise intervals (%.2fs <= %.1fs)' % (t_up - t_started, limit))

            # ---- an older release: the reply tells its maximum microversion
            nova_node('stop', node)
            nova_node('start', node, ADDR, port, '2.90')
            snaps, _ = watch(a, lambda s: s['reply'] == 'up ready 100% #nova-api 2.90',
                             timeout=30, what='reply with 2.90')
            check(snaps[-1]['probe']['version'] == '2.90',
                  'restarted with max 2.90: reply and status say 2.90', snaps[-1]['reply'])
            stop_clean(a)
    finally:
        try:
            nova_node('stop', node)
        except Exception as e:  # noqa: B902
            print('warning: nova-node stop: %s' % e, flush=True)


if __name__ == '__main__':
    main(run)
