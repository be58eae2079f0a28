#!/usr/bin/python3
"""probe.rise_interval_ms (issue 18: the coordinator's wait-healthy after a restart is rise probes
at the full interval): a node not up whose last probe succeeded is probed again this soon, as
HAProxy's fastinter; up again, the interval is back.

A fake nova-api on 127.0.0.161, probe.interval_ms 1000, rise 3, fall 1. It fails (HTTP 500) until
the agent is down, then answers again. From the fake nova-api's own request log:
  * rise_interval_ms 100: the three good probes that bring it up are at most 400 ms apart
    (each after the one before ends: 100 ms plus a probe), and the first one after it is up
    comes a whole interval later (at least 800 ms);
  * without it (0), the same good probes are an interval apart (at least 800 ms): the control.
The checks are on the spacing of requests the fake nova-api saw, not on how long anything
took."""
import time

from agentlib import Agent, check, main
from fake_nova import FakeNova
from probelib import watch

ADDR = '127.0.0.161'
INTERVAL, RISE = 1000, 3


def gaps_after(nova, t0):
    """Times (s) of the version-document requests since t0, and their gaps (ms)."""
    times = [t for t, path, mode in nova.log if t >= t0 and path.startswith('/v2.1')]
    return times, [round((b - a) * 1000) for a, b in zip(times, times[1:])]


def rise_spacing(rise_interval_ms):
    nova = FakeNova(ADDR, 0, control_port=0, version='2.93').start()
    probe = {'enabled': True, 'url': 'http://%s:%d/v2.1/' % (ADDR, nova.port), 'interval_ms': INTERVAL,
             'timeout_ms': 500, 'rise': RISE, 'fall': 1, 'rise_interval_ms': rise_interval_ms}
    try:
        with Agent(addr=ADDR, settings={'probe': probe}, name='rise%d' % rise_interval_ms) as a:
            watch(a, lambda s: s['reply'].startswith('up ready'), timeout=10, what='up at first')
            nova.set_mode('http500')
            watch(a, lambda s: s['reply'].startswith('down'), timeout=10, what='down on HTTP 500')
            t0 = time.time()
            nova.set_mode('healthy')
            snaps, _ = watch(a, lambda s: s['reply'].startswith('up ready'), timeout=15, what='up again')
            up_probes = snaps[-1]['probe']['probes']
            # one probe after it is up
            watch(a, lambda s: s['probe']['probes'] >= up_probes + 1, timeout=5, what='a probe after up')
            return gaps_after(nova, t0)[1]
    finally:
        nova.stop()


def run():
    fast = rise_spacing(100)
    print('rise_interval_ms 100: gaps between probes from the recovery on (ms): %s' % fast)
    check(len(fast) >= RISE, 'enough probes seen', fast)
    rising = fast[:RISE - 1]
    check(all(g <= 400 for g in rising),
          'rising: the %d good probes that bring it up are at most 400 ms apart' % RISE, fast)
    check(fast[RISE - 1] >= 800, 'up again: the next probe an interval later', fast)

    slow = rise_spacing(0)
    print('rise_interval_ms 0: gaps (ms): %s' % slow)
    check(len(slow) >= RISE - 1 and all(g >= 800 for g in slow[:RISE - 1]),
          'without it: the good probes an interval apart (the control)', slow)


if __name__ == '__main__':
    main(run)
