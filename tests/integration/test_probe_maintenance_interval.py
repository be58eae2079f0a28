#!/usr/bin/python3
"""probe.maintenance_interval_ms and the probe's last_started_age_ms (issue 18: the coordinator's
wait-healthy waited for probes at the full interval after the upgrade command had ended).

A fake nova-api on 127.0.0.162, probe.interval_ms 1000, maintenance_interval_ms 100, rise 2,
fall 1. From the fake nova-api's own request log (its version-document requests; while it
refuses connections, the agent's status counts the probes instead):
  * no flag, answering: probes an interval apart (at least 800 ms);
  * a drain flag set with the CLI, answering: still an interval apart (a drained API that
    answers costs nothing more);
  * flagged, refusing connections (its restart): probes at most 400 ms apart;
  * answering again, still flagged: it comes back up (rise probes 100 ms apart), one more probe
    100 ms later (for the coordinator's wait-healthy), then an interval apart again;
  * no flag, refusing (the control: the flag is what makes it fast): an interval apart;
  * a maint flag, refusing: at most 400 ms apart;
  * a maint flag, answering 1.5 s late (an API that takes connections before it has loaded): the
    probe waits for the answer (slow_timeout_ms), which still counts as a failure;
  * no flag, answering 1.5 s late (the control): the probe is cut at timeout_ms (500 ms).
And in --status, probe.last_started_age_ms: how long before the answer the last finished probe
started. Two reads 200 ms apart that see the same probe see it older by the time between them
(within 50 ms: the agent's clock, read at each answer); while flagged and refused, it is within
400 ms."""
import time

from agentlib import Agent, check, main
from fake_nova import FakeNova
from probelib import watch

ADDR = '127.0.0.162'
INTERVAL = 1000


def version_times(nova, t0):
    return [t for t, path, mode in nova.log if t >= t0 and path.startswith('/v2.1')]


def gaps(times):
    return [round((b - a) * 1000) for a, b in zip(times, times[1:])]


def spell(nova, seconds):
    """The gaps (ms) between the probes the fake nova-api answers in the next SECONDS."""
    t0 = time.time()
    time.sleep(seconds)
    return gaps(version_times(nova, t0))


def probes_per_second(a, seconds):
    """Probes the agent made (its status's count) per second over the next SECONDS."""
    n0 = a.status()['probe']['probes']
    time.sleep(seconds)
    return (a.status()['probe']['probes'] - n0) / seconds


def last_probes(a, n, timeout):
    """The agent's probe status (latency, ok, reason) after each of its next N probes."""
    seen, out = a.status()['probe']['probes'], []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        check(time.monotonic() < deadline, '%d probes within %d s' % (n, timeout), out)
        p = a.status()['probe']
        if p['probes'] > seen:
            seen = p['probes']
            out.append({k: p[k] for k in ('last_latency_ms', 'last_ok', 'last_reason')})
        time.sleep(0.05)
    return out


def run():
    nova = FakeNova(ADDR, 0, control_port=0, version='2.93').start()
    probe = {'enabled': True, 'url': 'http://%s:%d/v2.1/' % (ADDR, nova.port), 'interval_ms': INTERVAL,
             'timeout_ms': 500, 'rise': 2, 'fall': 1, 'maintenance_interval_ms': 100}
    try:
        with Agent(addr=ADDR, settings={'probe': probe}, name='maintinterval') as a:
            watch(a, lambda s: s['reply'].startswith('up ready'), timeout=10, what='up at first')
            plain = spell(nova, 3.2)
            print('no flag: gaps (ms): %s' % plain)
            check(len(plain) >= 2 and all(g >= 800 for g in plain), 'no flag: an interval apart', plain)

            # the age: two reads 200 ms apart that see the same probe see it 200 ms older
            for _ in range(5):
                s1 = a.status()
                t1 = time.monotonic()
                time.sleep(0.2)
                s2 = a.status()
                dt = (time.monotonic() - t1) * 1000
                if s2['probe']['probes'] == s1['probe']['probes']:
                    break
            age1, age2 = s1['probe']['last_started_age_ms'], s2['probe']['last_started_age_ms']
            print('no flag: last_started_age_ms %d, %.0f ms later %d' % (age1, dt, age2))
            check(s2['probe']['probes'] == s1['probe']['probes'], 'two reads saw the same probe',
                  (s1['probe']['probes'], s2['probe']['probes']))
            check(0 <= age1 <= INTERVAL + 500, 'the age is within an interval and a timeout', age1)
            check(dt - 50 <= age2 - age1 <= dt + 50, 'the same probe older by the time between the reads',
                  (age1, age2, dt))

            r = a.cli('--maintenance', 'on', '--mode', 'drain', '--reason', 'upgrade')
            check(r.returncode == 0, 'drain flag set', r.stderr)
            watch(a, lambda s: s['reply'].startswith('up drain'), timeout=10, what='reply drain')
            idle = spell(nova, 3.2)
            print('drain, answering: gaps (ms): %s' % idle)
            check(len(idle) >= 2 and all(g >= 800 for g in idle), 'drained and answering: an interval apart',
                  idle)

            nova.set_mode('refused')
            watch(a, lambda s: s['reply'].startswith('down'), timeout=10, what='down while refused')
            rate = probes_per_second(a, 1.5)
            ages = []
            for _ in range(2):
                ages.append(a.status()['probe']['last_started_age_ms'])
                time.sleep(0.15)
            print('drain, refused: %.1f probes/s; last_started_age_ms %s' % (rate, ages))
            check(rate >= 2.5, 'drained and refused (restarting): at least 2.5 probes a second', rate)
            check(all(0 <= x <= 400 for x in ages), 'the last probe started within 400 ms', ages)

            t0 = time.time()
            nova.set_mode('healthy')
            watch(a, lambda s: s['reply'].startswith('up drain'), timeout=10, what='up again, drained')
            time.sleep(0.5)
            back = spell(nova, 3.2)
            came = gaps(version_times(nova, t0))[:2]
            print('drain, answering again: first gaps %s, then gaps (ms): %s' % (came, back))
            check(len(came) == 2 and came[0] <= 400, 'rising: the second good probe soon after the first',
                  came)
            check(came[1] <= 400, 'back up under the flag: one more probe soon (wait-healthy)', came)
            check(len(back) >= 2 and all(g >= 800 for g in back), 'up again: an interval apart', back)

            r = a.cli('--maintenance', 'off')
            check(r.returncode == 0, 'flag cleared', r.stderr)
            watch(a, lambda s: s['reply'].startswith('up ready'), timeout=10, what='ready again')
            nova.set_mode('refused')
            watch(a, lambda s: s['reply'].startswith('down'), timeout=10, what='down, no flag')
            rate = probes_per_second(a, 3.0)
            print('no flag, refused: %.1f probes/s' % rate)
            check(rate <= 1.4, 'no flag, refused (the control): about one probe a second', rate)

            r = a.cli('--maintenance', 'on', '--mode', 'maint', '--reason', 'upgrade')
            check(r.returncode == 0, 'maint flag set', r.stderr)
            watch(a, lambda s: s['reply'].startswith('down maint'), timeout=10, what='reply maint')
            time.sleep(1.1)  # the probe in wait when the flag came: up to an interval away
            rate = probes_per_second(a, 1.5)
            print('maint, refused: %.1f probes/s' % rate)
            check(rate >= 2.5, 'maint and refused: at least 2.5 probes a second', rate)

            # restarting and loading: the API takes the connection and answers late (uwsgi before
            # nova has loaded). The probe waits for the answer (up to slow_timeout_ms) instead of
            # being cut at timeout_ms; a late answer is still a failure.
            nova.set_mode('slow', delay_ms=1500)
            late = last_probes(a, 2, timeout=15)
            print('maint, answering 1.5 s late: %s' % late)
            check(all(p['last_latency_ms'] >= 1400 for p in late),
                  'maint, loading: the probe waited for the late answer', late)
            check(all(not p['last_ok'] for p in late), 'a late answer is still a failure', late)
            check(a.status()['reply'].startswith('down maint'), 'still down under the flag',
                  a.status()['reply'])

            # the control: no flag, the same late answers: cut at timeout_ms (500 ms)
            r = a.cli('--maintenance', 'off')
            check(r.returncode == 0, 'flag cleared', r.stderr)
            cut = last_probes(a, 3, timeout=15)[1:]  # the first may have started under the flag
            print('no flag, answering 1.5 s late: %s' % cut)
            check(all(400 <= p['last_latency_ms'] < 1000 for p in cut),
                  'no flag (the control): cut at timeout_ms', cut)
            check(all('timeout' in p['last_reason'] for p in cut), 'no flag: a timeout', cut)
    finally:
        nova.stop()


if __name__ == '__main__':
    main(run)
