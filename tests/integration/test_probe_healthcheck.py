#!/usr/bin/python3
"""probe.healthcheck_url: oslo's healthcheck disabled by file drains the node.

The agent probes a fake nova's version document and its /healthcheck in the same
cycle (interval 300 ms, timeout 250 ms, rise 2, fall 3):

  * healthy: 'up ready 100% #nova-api 2.93', status probe.healthcheck_http 200;
  * fake_nova mode healthcheck_disabled (/healthcheck -> 503 'DISABLED BY FILE', the
    version document still fine): 'up drain #nova-api: healthcheck disabled by file'
    (followed by '; nova-api 2.93'), from the very probe cycle that saw the 503 (no
    hysteresis: every status snapshot has drain <=> healthcheck_disabled);
    health.disabled is true, health.state stays up;
  * back to healthy: 'up ready 100% #nova-api 2.93' from the first cycle with 200;
  * a healthcheck URL that cannot be reached (closed port) or answers 404 is no verdict:
    the node stays ready.
"""

from agentlib import Agent, check, main
from probelib import HEALTHY_REPLY, NovaProc, probe_settings, short, stop_clean, watch
from testutil import free_port, tempdir

DISABLED_PREFIX = 'up drain #nova-api: healthcheck disabled by file'


def switch(agent, nova, mode, until, what):
    """Switch the fake's mode and watch the status until UNTIL; check that every
    snapshot says drain exactly when healthcheck_disabled is set, and that the change
    came one probe cycle after the last snapshot of the old state."""
    nova.set_mode(mode)
    snaps, secs = watch(agent, until, timeout=20, what=what)
    bad = [(s['reply'], s['probe']['healthcheck_disabled'], s['health']['disabled'])
           for s in snaps
           if s['reply'].startswith('up drain') != bool(s['probe']['healthcheck_disabled'])
           or s['reply'].startswith('up drain') != bool(s['health']['disabled'])]
    check(not bad, '%s: in all %d status snapshots, drain exactly when probe.healthcheck_disabled '
          'and health.disabled' % (what, len(snaps)),
          'reply, probe.healthcheck_disabled, health.disabled: %r' % bad[:3])
    last = snaps[-1]
    # Not asserted (snapshots are polled, a cycle may fall between two): said when seen.
    if len(snaps) > 1 and last['probe']['probes'] == snaps[-2]['probe']['probes'] + 1:
        print('%s: the change came with the first probe cycle that saw it' % what)
    print('timing: %s after %.2fs' % (what, secs), flush=True)
    return last


def run():
    wd = tempdir('zdu-it-hc-')
    nova = NovaProc(wd)
    try:
        settings = probe_settings(nova.url, interval_ms=300, timeout_ms=250,
                                  connect_timeout_ms=250, healthcheck_url=nova.hc_url)
        with Agent(settings=settings) as a:
            s, _ = watch(a, lambda x: x['reply'] == HEALTHY_REPLY
                         and x['probe']['healthcheck_http'] == 200, timeout=10, what='healthy')
            s = s[-1]
            check(s['probe']['healthcheck_url'] == nova.hc_url
                  and s['probe']['healthcheck_disabled'] is False and s['health']['disabled'] is False,
                  'status: healthcheck_url, healthcheck 200, not disabled', s['probe'])

            for rnd in range(2):
                d = switch(a, nova, 'healthcheck_disabled',
                           lambda x: x['reply'] != HEALTHY_REPLY,
                           'round %d: healthcheck disabled -> drain' % rnd)
                check(d['reply'].startswith(DISABLED_PREFIX),
                      'round %d: reply starts %r' % (rnd, DISABLED_PREFIX), d['reply'])
                check(d['reply'] == DISABLED_PREFIX + '; nova-api 2.93',
                      'round %d: reply is exactly %r' % (rnd, DISABLED_PREFIX + '; nova-api 2.93'),
                      d['reply'])
                check(d['probe']['healthcheck_http'] == 503 and d['probe']['healthcheck_disabled']
                      and d['health']['state'] == 'up' and d['health']['disabled'] is True
                      and d['probe']['last_ok'] is True,
                      'round %d: status: healthcheck 503 disabled, health up + disabled' % rnd,
                      (d['health'], short(d)))
                check(a.reply() == d['reply'], 'round %d: TCP reply agrees' % rnd, a.reply())
                # it stays drained while the file is there
                s0 = d['probe']['probes']
                watch(a, lambda x: x['probe']['probes'] >= s0 + 3, timeout=10, what='3 more cycles')
                check(a.reply() == d['reply'], 'round %d: still drained 3 cycles later' % rnd)

                u = switch(a, nova, 'healthy', lambda x: x['reply'] == HEALTHY_REPLY,
                           'round %d: healthcheck ok -> ready' % rnd)
                check(u['probe']['healthcheck_http'] == 200 and not u['health']['disabled'],
                      'round %d: back to ready, not disabled' % rnd, u['probe'])
            stop_clean(a)

        # ---- a healthcheck that cannot be reached, or a 404: no verdict of its own
        for label, url in (('closed port', 'http://127.0.0.1:%d/healthcheck' % free_port()),
                           ('404', 'http://127.0.0.1:%d/no-such-healthcheck' % nova.port)):
            st = probe_settings(nova.url, interval_ms=300, timeout_ms=250, connect_timeout_ms=250,
                                healthcheck_url=url)
            with Agent(settings=st, name='hc-' + label.replace(' ', '-')) as a:
                s, _ = watch(a, lambda x: x['probe']['probes'] >= 3, timeout=10,
                             what='3 probe cycles')
                s = s[-1]
                check(s['reply'] == HEALTHY_REPLY and not s['probe']['healthcheck_disabled'],
                      'healthcheck %s: the node stays ready' % label, (s['reply'], s['probe']))
                check(s['probe']['healthcheck_http'] == (0 if label == 'closed port' else 404),
                      'healthcheck %s: status healthcheck_http' % label,
                      s['probe']['healthcheck_http'])
                stop_clean(a)
    finally:
        nova.stop()


if __name__ == '__main__':
    main(run)
