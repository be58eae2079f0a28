#!/usr/bin/python3
"""probe.maintenance_interval_ms and the probe's last_started_age_ms (issue 18: the coordinator's
wait-healthy waited for probes at the full interval after the upgrade command had ended).

A fake nova-api on 127.0.0.162, probe.interval_ms 1000, maintenance_interval_ms 100. From the fake
nova-api's own request log:
  * no flag: probes an interval apart (at least 800 ms);
  * a drain flag set with the CLI: once the agent replies drain, its probes are at most 400 ms
    apart (each 100 ms after the one before ends);
  * a maint flag: the same;
  * the flag cleared: an interval apart again.
And in --status, probe.last_started_age_ms: how long before the answer the last finished probe
started. While drained, two reads 150 ms apart both see a probe that started within the last
400 ms; without the flag, two reads a few ms apart see the same probe, the later one older by
at least what passed between them (the same clock, read at each answer)."""
import time

from agentlib import Agent, check, main
from fake_nova import FakeNova
from probelib import watch

ADDR = '127.0.0.162'
INTERVAL = 1000


def version_times(nova, t0, t1=None):
    return [t for t, path, mode in nova.log if t >= t0 and (t1 is None or t < t1) and path.startswith('/v2.1')]


def gaps(times):
    return [round((b - a) * 1000) for a, b in zip(times, times[1:])]


def spell(nova, seconds):
    """The gaps (ms) between the probes the fake nova-api sees in the next SECONDS."""
    t0 = time.time()
    time.sleep(seconds)
    return gaps(version_times(nova, t0))


def run():
    nova = FakeNova(ADDR, 0, control_port=0, version='2.93').start()
    probe = {'enabled': True, 'url': 'http://%s:%d/v2.1/' % (ADDR, nova.port), 'interval_ms': INTERVAL,
             'timeout_ms': 500, 'rise': 2, 'fall': 2, 'maintenance_interval_ms': 100}
    try:
        with Agent(addr=ADDR, settings={'probe': probe}, name='maintinterval') as a:
            watch(a, lambda s: s['reply'].startswith('up ready'), timeout=10, what='up at first')
            plain = spell(nova, 3.2)
            print('no flag: gaps (ms): %s' % plain)
            check(len(plain) >= 2 and all(g >= 800 for g in plain), 'no flag: an interval apart', plain)

            # the age: two reads close together see the same probe, the later one older
            s1 = a.status()
            s2 = a.status()
            age1, age2 = s1['probe']['last_started_age_ms'], s2['probe']['last_started_age_ms']
            print('no flag: last_started_age_ms %d then %d' % (age1, age2))
            check(0 <= age1 <= INTERVAL + 500, 'the age is within an interval and a timeout', age1)
            check(s2['probe']['probes'] != s1['probe']['probes'] or age2 >= age1,
                  'the same probe is older at the later answer', (age1, age2))

            for mode in ('drain', 'maint'):
                r = a.cli('--maintenance', 'on', '--mode', mode, '--reason', 'upgrade')
                check(r.returncode == 0, 'flag %s set' % mode, r.stderr)
                watch(a, lambda s: s['reply'].startswith('up ' + mode), timeout=10, what='reply %s' % mode)
                # the first probe after the flag may still be a whole interval away
                time.sleep(1.2)
                fast = spell(nova, 1.5)
                print('%s: gaps (ms): %s' % (mode, fast))
                check(len(fast) >= 4 and all(g <= 400 for g in fast),
                      '%s: probes at most 400 ms apart' % mode, fast)
                ages = []
                for _ in range(2):
                    ages.append(a.status()['probe']['last_started_age_ms'])
                    time.sleep(0.15)
                print('%s: last_started_age_ms %s' % (mode, ages))
                check(all(0 <= x <= 400 for x in ages), '%s: the last probe started within 400 ms' % mode,
                      ages)
                r = a.cli('--maintenance', 'off')
                check(r.returncode == 0, 'flag cleared', r.stderr)
                watch(a, lambda s: s['reply'].startswith('up ready'), timeout=10, what='ready again')

            time.sleep(0.6)
            back = spell(nova, 3.2)
            print('cleared: gaps (ms): %s' % back)
            check(len(back) >= 2 and all(g >= 800 for g in back), 'cleared: an interval apart again', back)
    finally:
        nova.stop()


if __name__ == '__main__':
    main(run)
