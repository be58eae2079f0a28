#!/usr/bin/python3
"""A nova-api that hangs or trickles never delays an agent-check reply.

The agent probes a fake nova (tests/lib/fake_nova.py, its own process) every 300 ms
with a 250 ms timeout, so that a request is in flight most of the time. Meanwhile
this test makes >= 1500 sequential agent-check probes (connect, read to EOF, close;
one every ~2 ms, spread over many probe cycles and their timeouts) and prints
p50/p99/max of the connect-to-EOF time:

  * healthy nova (reference);
  * hang      (the request is read, never answered: curl times out every cycle);
  * trickle   (headers at once, then 1 body byte every 20 ms until the timeout);
  * oversized (a 1 MiB body cut at max_body_bytes every cycle).

Asserted: p99 < 5 ms while nova hangs and while it trickles (and for the others);
during each measurement the agent really was probing (its probe counter advanced by
at least 6 cycles with the expected result, and fake_nova saw the requests).

On a loaded machine a measurement that misses the bound is repeated (up to 3 times):
a probe blocking the loop would show up in every attempt (about one reply in six
would wait for up to the 250 ms timeout), a busy machine does not.

probe.dead_after_ms = 0: hang and trickle are a slow nova-api, which since issue 15 keeps an up
node up; this test wants them to fail every cycle, as before.
"""

import statistics
import time

from agentlib import Agent, check, main
from probelib import HEALTHY_REPLY, NovaProc, probe_settings, short, stop_clean, watch
from testutil import tempdir

N = 1500
GAP_S = 0.002
P99_MAX_MS = 5.0
INTERVAL, TIMEOUT = 300, 250


def pct(sorted_ms, p):
    i = min(len(sorted_ms) - 1, max(0, int(round(p / 100.0 * len(sorted_ms) + 0.5)) - 1))
    return sorted_ms[i]


def measure(agent, want_reply):
    times = []
    for _ in range(N):
        data, dt = agent.probe(timeout=2)
        if data.decode() != want_reply + '\n':
            raise AssertionError('reply %r during the measurement, want %r' % (data, want_reply))
        times.append(dt * 1000.0)
        time.sleep(GAP_S)
    times.sort()
    return {'n': len(times), 'p50': statistics.median(times), 'p99': pct(times, 99),
            'max': times[-1], 'over5': sum(1 for t in times if t >= P99_MAX_MS)}


def scenario(agent, nova, label, mode, params, want_reply, want_reason):
    nova.set_mode(mode, **params)
    # wait until the agent's verdict reflects the mode (fall 3 / rise 2 cycles)
    watch(agent, lambda s: s['reply'] == want_reply
          and (s['probe']['last_reason'] == want_reason), timeout=20,
          what='%s: reply %r' % (label, want_reply))
    results = []
    for attempt in range(3):
        s0 = agent.status()
        r0 = nova.requests()
        t0 = time.monotonic()
        m = measure(agent, want_reply)
        secs = time.monotonic() - t0
        s1 = agent.status()
        r1 = nova.requests()
        cycles = s1['probe']['probes'] - s0['probe']['probes']
        print('latency: %-10s attempt %d: n=%d p50=%.3f ms p99=%.3f ms max=%.3f ms '
              '(>=5ms: %d) over %.1fs, %d probe cycles, %d requests to nova, last %r'
              % (label, attempt + 1, m['n'], m['p50'], m['p99'], m['max'], m['over5'], secs,
                 cycles, r1 - r0, s1['probe']['last_reason'] or 'ok'), flush=True)
        check(cycles >= 6 and r1 - r0 >= 6,
              '%s: the agent kept probing nova during the measurement' % label,
              (cycles, r1 - r0, short(s1)))
        check(s1['probe']['last_reason'] == want_reason,
              '%s: probe result during the measurement: %r' % (label, want_reason), short(s1))
        if mode != 'healthy':
            fails = s1['probe']['failures'] - s0['probe']['failures']
            check(fails == cycles, '%s: every probe cycle failed as expected' % label,
                  (fails, cycles))
        results.append(m)
        if m['p99'] < P99_MAX_MS:
            break
    best = min(results, key=lambda x: x['p99'])
    check(best['p99'] < P99_MAX_MS, '%s: p99 %.3f ms < %.1f ms' % (label, best['p99'], P99_MAX_MS),
          results)
    return best


def run():
    wd = tempdir('zdu-it-nonblock-')
    nova = NovaProc(wd)
    try:
        settings = probe_settings(nova.url, interval_ms=INTERVAL, timeout_ms=TIMEOUT,
                                  connect_timeout_ms=TIMEOUT, rise=2, fall=3, dead_after_ms=0)
        with Agent(settings=settings) as a:
            watch(a, lambda s: s['reply'] == HEALTHY_REPLY, timeout=10, what='healthy')
            timeout_reason = 'nova-api: timeout after %d ms' % TIMEOUT
            down = 'down ready 100% #' + timeout_reason
            res = {}
            res['healthy'] = scenario(a, nova, 'healthy', 'healthy', {}, HEALTHY_REPLY, '')
            res['hang'] = scenario(a, nova, 'hang', 'hang', {}, down, timeout_reason)
            nova.set_mode('healthy')
            watch(a, lambda s: s['reply'] == HEALTHY_REPLY, timeout=20, what='healthy again')
            res['trickle'] = scenario(a, nova, 'trickle', 'trickle',
                                      {'interval_ms': 20, 'chunk': 1}, down, timeout_reason)
            nova.set_mode('healthy')
            watch(a, lambda s: s['reply'] == HEALTHY_REPLY, timeout=20, what='healthy again')
            res['oversized'] = scenario(a, nova, 'oversized', 'oversized', {'size': 1 << 20},
                                        'down ready 100% #nova-api: body over 65536 bytes',
                                        'nova-api: body over 65536 bytes')
            check(a.running(), 'agent still running')
            stop_clean(a)
        for k, m in res.items():
            print('summary: %-10s p50 %.3f ms  p99 %.3f ms  max %.3f ms' % (k, m['p50'], m['p99'],
                                                                            m['max']))
        print('summary: p99 hung/healthy = %.2f, trickle/healthy = %.2f'
              % (res['hang']['p99'] / res['healthy']['p99'],
                 res['trickle']['p99'] / res['healthy']['p99']), flush=True)
    finally:
        nova.stop()


if __name__ == '__main__':
    main(run)
