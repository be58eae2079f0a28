#!/usr/bin/python3
"""Slow is not down (issue 15), against the fault-injecting fake nova (tests/lib/fake_nova.py).

The e2e's fast probe settings: interval 500 ms, timeout 450 ms, connect timeout 400 ms, rise 2,
fall 2, so a failure goes down in fall x interval = 1 s. The agent runs with NOTIFY_SOCKET (what
systemd would hear, as test_sd_notify.py).

First with the defaults of the new keys (probe.dead_after_ms 60000, slow_timeout_ms 5000):
  1. nova answers every request 1.2 s late ('slow' mode: it accepts at once): for 4 s, four
     times fall x interval, the reply is 'up ready 50% #nova-api: slow: 1.2 s; nova-api 2.93'
     and never 'down' (the agent-check reply over TCP agrees); status health.fault 'soft',
     health.slow (since, weight, last/slowest probe, dead_after_ms); the text --status has its
     'slow:' line; systemd's STATUS says 'slow since ..., for ...'; the log says when it became
     slow, with the time of the probe.
  2. nova answers in time again: 'up ready 100% #nova-api 2.93' after rise good answers; the
     log says how long it was slow, how many slow probes, the slowest.
  3. connection refused: 'down ready 100% #nova-api: connection refused' within fall x
     interval (+ one interval for the probe in flight, + slack), after exactly fall failed
     probes; fault 'hard'.
  4. slow, then refused in the middle of the slow spell: down within fall x interval (+ slack),
     not after dead_after_ms; fault 'hard'; the log says it failed after being slow so long.
  5. a connect timeout (probe.url reloaded to a listener whose accept queue is full): a
     failure, 'down ready 100% #nova-api: connect timeout' after fall probes.
Then reloaded with probe.dead_after_ms = 9000:
  6. slow for good: 50 %, then 25 %, then 10 % (the thirds of 9 s), then 'down ready 100%
     #nova-api: slow for 9.x s' once slow for at least 9 s, fault 'soft'; logged at each step.
  7. healthy again after rise.

On an agent from before issue 15, step 1 fails: the slow probes time out and the node goes
down after fall (1 s).
"""

import os
import re
import socket
import threading
import time

from agentlib import check, main
from notifylib import NotifyAgent, NotifySocket
from probelib import HEALTHY_REPLY, NovaProc, op_token, probe_settings, short, stop_clean, watch
from testutil import tempdir

INTERVAL, TIMEOUT, CONNECT, RISE, FALL = 500, 450, 400, 2, 2
FALL_S = FALL * INTERVAL / 1000.0
SLACK_S = 1.0
DEAD_MS = 9000   # part 6: thirds of 3 s, wide enough for 1.2 s probes on a busy machine
SLOW_RE = re.compile(r'^up ready (\d+)% #nova-api: slow: (\d+\.\d) s; nova-api 2\.93$')


def slow_reply(r):
    m = SLOW_RE.match(r)
    return m and (int(m.group(1)), float(m.group(2)))


def follow(agent, until, seconds):
    """Status snapshots every ~20 ms until until(s) (None: never) or SECONDS;
    -> [(monotonic, snapshot)]."""
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        s = agent.status()
        out.append((time.monotonic(), s))
        if until is not None and until(s):
            break
        time.sleep(0.02)
    return out


class Drain(threading.Thread):
    """Reads the notify socket all the time (the kernel queues only
    net.unix.max_dgram_qlen datagrams, 10 here, and libsystemd's send blocks
    when the queue is full): ns.got keeps every message."""

    def __init__(self, ns):
        super().__init__(daemon=True)
        self.ns = ns
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            try:
                self.ns.recv(0.1)
            except OSError:
                return

    def stop(self):
        self.stopping.set()
        self.join(2)


def healthy(agent, what):
    watch(agent, lambda s: s['reply'] == HEALTHY_REPLY and s['probe']['ok_streak'] >= RISE,
          timeout=20, what=what)


def went_down(agent, nova, mode, reason, what, **params):
    """From healthy (or slow), switch nova to MODE: the node must go down for REASON within
    fall x interval (+ the probe in flight + slack), after exactly fall failed probes."""
    s0 = agent.status()
    t0 = time.monotonic()
    nova.set_mode(mode, **params)
    snaps, _ = watch(agent, lambda s: op_token(s['reply']) == 'down', timeout=15, what=what)
    dt = time.monotonic() - t0
    down = snaps[-1]
    print('timing: %s: down %.2fs after the switch (bound %.1fs)' % (what, dt,
                                                                      FALL_S + 0.5 + SLACK_S),
          flush=True)
    check(down['reply'] == 'down ready 100% #' + reason, '%s: reply %r' % (what, reason),
          down['reply'])
    check(down['health']['fault'] == 'hard' and down['probe']['hard_streak'] == FALL,
          '%s: a hard failure, down after exactly fall (%d) failed probes' % (what, FALL),
          (down['health'], short(down)))
    check(dt <= FALL_S + 0.5 + SLACK_S,
          '%s: down within fall x interval (%.1fs) + the probe in flight + %.1fs slack'
          % (what, FALL_S, SLACK_S), dt)
    check(all(op_token(s['reply']) == 'up' for s in snaps[:-1]),
          '%s: up until then' % what, [s['reply'] for s in snaps[:-1]][-3:])
    return down, s0


def part_defaults(a, ns, nova, wd):
    healthy(a, 'healthy at the start')

    # ---- 1. slow for 4 s: up at half weight, never down
    log0 = a.log_size()
    nova.set_mode('slow', delay_ms=1200)
    t0 = time.monotonic()
    snaps, _ = watch(a, lambda s: s['reply'] != HEALTHY_REPLY, timeout=10,
                     what='the reply changes once nova answers late')
    first = snaps[-1]
    check(slow_reply(first['reply']) is not None and slow_reply(first['reply'])[0] == 50,
          'slow: the reply stays up, weight 50%, says how slow: '
          '"up ready 50% #nova-api: slow: 1.2 s; nova-api 2.93"', first['reply'])
    t_slow = time.monotonic()
    seen = follow(a, None, 4.0)
    replies = [s['reply'] for _, s in seen]
    check(all(slow_reply(r) and slow_reply(r)[0] == 50 for r in replies),
          'slow for 4 s (%.0f x fall x interval): every reply "up ready 50%% #nova-api: slow: ..."'
          % (4.0 / FALL_S), sorted(set(replies)))
    secs = [slow_reply(r)[1] for r in replies]
    check(min(secs) >= 1.2 and max(secs) <= 3.0, 'the reason gives the time of the slow probe '
          '(1.2 s late answers): %.1f..%.1f s' % (min(secs), max(secs)), sorted(set(secs)))
    last = seen[-1][1]
    check(last['probe'].get('dead_after_ms') == 60000 and last['probe'].get('slow_timeout_ms') == 5000,
          'defaults: probe.dead_after_ms 60000, probe.slow_timeout_ms 5000', last['probe'])
    h = last['health']
    check(h['state'] == 'up' and h['fault'] == 'soft' and h['slow'] is not None,
          'status: health up, fault soft, health.slow set', h)
    sl = h['slow']
    check(sl['weight_percent'] == 50 and sl['dead_after_ms'] == 60000 and sl['answered'] is True
          and 1200 <= sl['last_ms'] <= 3000 and sl['max_ms'] >= sl['last_ms'] and sl['probes'] >= 3
          and sl['for_ms'] >= 4000 and re.match(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$', sl['since']),
          'status health.slow: since (UTC), for_ms >= 4 s, weight 50, last/slowest probe, '
          'probes, dead_after_ms', sl)
    check(abs(time.time() - sl['since_unix_ms'] / 1000.0 - sl['for_ms'] / 1000.0) < 1.0,
          'health.slow.since_unix_ms and for_ms agree with the wall clock', sl)
    check(last['probe']['last_class'] == 'slow' and last['probe']['slow_probes'] >= 3,
          'status probe: last_class slow, slow_probes counted', short(last))
    tcp = a.reply()
    check(slow_reply(tcp) is not None, 'the agent-check reply over TCP agrees', tcp)
    txt = a.cli('--status').stdout
    print(txt, flush=True)
    check(re.search(r'^  slow:      since \S+Z \(for \d+\.\d s\), weight 50%; last probe \d+\.\d s, '
                    r'slowest \d+\.\d s, \d+ slow probes$', txt, re.M)
          and 'down if still slow after 60.0 s (probe.dead_after_ms)' in txt,
          'zdu-agent --status: a "slow:" line with since, for, weight, and the dead_after bound', txt)
    log = a.log_text()[log0:]
    check(re.search(r'notice: probe: nova-api slow: \d+\.\d s, over probe\.timeout_ms \(450 ms\): '
                    r'weight 50%, down if still slow after 60\.0 s \(probe\.dead_after_ms\)', log),
          'the log says when it became slow, how slow, the weight and the bound', log[-2000:])
    time.sleep(0.2)
    statuses = [m[1] for m in list(ns.got) if m[1].startswith('STATUS=')]
    check(any(re.match(r'^STATUS=up ready 50% #nova-api: slow: \d+\.\d s; nova-api 2\.93 '
                       r'\(slow since \S+Z, for \d+(\.\d)? m?s\)$', t) for t in statuses),
          'systemd STATUS: the reply, slow since when and for how long', statuses)
    held = time.monotonic() - t_slow
    print('timing: slow for %.1fs after the first slow reply (%.1fs after the switch), up at 50%%'
          % (held, time.monotonic() - t0), flush=True)

    # ---- 2. answers in time again
    log0 = a.log_size()
    nova.set_mode('healthy')
    snaps, dt = watch(a, lambda s: s['reply'] == HEALTHY_REPLY, timeout=10, what='in time again')
    check(all(slow_reply(s['reply']) for s in snaps[:-1]), 'slow until back to 100%',
          [s['reply'] for s in snaps[:-1]][-3:])
    check(snaps[-1]['health']['fault'] == 'none' and snaps[-1]['health']['slow'] is None,
          'in time again: fault none, no health.slow', snaps[-1]['health'])
    a.wait_log(re.compile(r'notice: probe: nova-api answers in time again \(\d+ ms\) after \d+\.\d s '
                          r'slow \(\d+ slow probes, slowest \d+\.\d s\)'), timeout=5, start=log0)
    print('ok: the log says when it recovered, after how long slow, how many slow probes, the slowest',
          flush=True)
    healthy(a, 'healthy after the slowdown')

    # ---- 3. a real death: refused
    went_down(a, nova, 'refused', 'nova-api: connection refused', 'refused')
    nova.set_mode('healthy')
    healthy(a, 'healthy after refused')

    # ---- 4. refused in the middle of a slow spell
    nova.set_mode('slow', delay_ms=1200)
    watch(a, lambda s: slow_reply(s['reply']) is not None, timeout=10, what='slow again')
    log0 = a.log_size()
    went_down(a, nova, 'refused', 'nova-api: connection refused', 'refused while slow')
    a.wait_log(re.compile(r'notice: probe: nova-api failing after \d+\.\d s slow: nova-api: '
                          r'connection refused: down'), timeout=5, start=log0)
    print('ok: the log says it failed after being slow so long', flush=True)
    nova.set_mode('healthy')
    healthy(a, 'healthy after refused while slow')

    # ---- 5. a connect timeout is a failure
    full = socket.socket()
    full.bind(('127.0.0.1', 0))
    full.listen(0)
    stuffers = []
    try:
        c = socket.create_connection(full.getsockname(), timeout=2)   # fills the accept queue
        stuffers.append(c)
        a.settings['probe']['url'] = 'http://127.0.0.1:%d/v2.1/' % full.getsockname()[1]
        a.write_config()
        t0 = time.monotonic()
        log0 = a.log_size()
        a.hup()
        a.wait_log('configuration reloaded', timeout=5, start=log0)
        snaps, _ = watch(a, lambda s: op_token(s['reply']) == 'down', timeout=15,
                         what='connect timeout: down')
        dt = time.monotonic() - t0
        down = snaps[-1]
        check(down['reply'] == 'down ready 100% #nova-api: connect timeout'
              and down['health']['fault'] == 'hard' and down['probe']['hard_streak'] == FALL,
              'a listener that takes no connection (full accept queue): "connect timeout", '
              'hard, after fall probes', (down['reply'], down['health'], short(down)))
        print('timing: connect timeout: down %.2fs after the reload' % dt, flush=True)
    finally:
        for c in stuffers:
            c.close()
        full.close()
    a.settings['probe']['url'] = nova.url
    a.write_config()
    a.hup()
    healthy(a, 'healthy after the connect timeout')


def part_dead_after(a, ns, nova):
    log0 = a.log_size()
    a.settings['probe']['dead_after_ms'] = DEAD_MS
    a.write_config()
    a.hup()
    a.wait_log('configuration reloaded', timeout=5, start=log0)
    check(a.status()['probe']['dead_after_ms'] == DEAD_MS, 'reloaded: probe.dead_after_ms %d' % DEAD_MS)
    healthy(a, 'healthy before the long slowdown')

    # ---- 6. slow for good: the weight steps, then down
    nova.set_mode('slow', delay_ms=1200)
    t0 = time.monotonic()
    seen = follow(a, lambda s: op_token(s['reply']) == 'down', 30)
    down = seen[-1][1]
    check(op_token(down['reply']) == 'down', 'slow for %d s: down at last' % (DEAD_MS // 1000), down['reply'])
    slows = [(t, s) for t, s in seen if slow_reply(s['reply'])]
    check(slows and all(slow_reply(s['reply']) or s['reply'] == HEALTHY_REPLY for _, s in seen[:-1]),
          'until then: healthy, then up and slow, nothing else',
          sorted(set(s['reply'] for _, s in seen[:-1])))
    weights = [slow_reply(s['reply'])[0] for _, s in slows]
    steps = [w for i, w in enumerate(weights) if i == 0 or w != weights[i - 1]]
    check(steps == [50, 25, 10], 'the weight steps 50% -> 25% -> 10%', steps)
    # the weight comes from the spell's age at the last probe (for_ms is its age now)
    early = [s['health']['slow'] for _, s in slows
             if s['health']['slow']['for_ms'] < {50: 0, 25: DEAD_MS // 3, 10: 2 * DEAD_MS // 3}[
                 s['health']['slow']['weight_percent']]]
    check(not early and all(slow_reply(s['reply'])[0] == s['health']['slow']['weight_percent']
                            for _, s in slows),
          'weight 25% only after a third of dead_after, 10% after two thirds; the '
          'reply and health.slow.weight_percent agree', early[:3])
    since = slows[0][1]['health']['slow']['since_unix_ms'] / 1000.0
    m = re.match(r'^down ready 100% #nova-api: slow for (\d+\.\d) s$', down['reply'])
    check(m and DEAD_MS / 1000.0 <= float(m.group(1)) <= DEAD_MS / 1000.0 + 2.5,
          'down, saying how long it was slow ("down ready 100%% #nova-api: slow for %d.x s")'
          % (DEAD_MS // 1000), down['reply'])
    t_down_wall = time.time() - (time.monotonic() - seen[-1][0])
    check(t_down_wall - since >= DEAD_MS / 1000.0 - 0.05,
          'down only once slow for probe.dead_after_ms (%d s): %.2fs'
          % (DEAD_MS // 1000, t_down_wall - since))
    check(slows[-1][0] - slows[0][0] > 2 * FALL_S,
          'up and slow for much longer than fall x interval (%.1fs): %.1fs'
          % (FALL_S, slows[-1][0] - slows[0][0]))
    check(down['health']['fault'] == 'soft' and down['health']['slow'] is None,
          'down for a soft reason: fault soft', down['health'])
    log = a.log_text()[log0:]
    for pat, what in ((r'notice: probe: nova-api slow: \d+\.\d s, over probe\.timeout_ms \(450 ms\): '
                       r'weight 50%%, down if still slow after %d\.0 s' % (DEAD_MS // 1000), 'became slow'),
                      (r'notice: probe: nova-api slow for \d+\.\d s: weight 25%', 'weight 25%'),
                      (r'notice: probe: nova-api slow for \d+\.\d s: weight 10%', 'weight 10%'),
                      (r'notice: probe: nova-api slow for \d+\.\d s, probe\.dead_after_ms \(%d\.0 s\) '
                       r'reached: down \(\d+ slow probes, slowest \d+\.\d s\)' % (DEAD_MS // 1000), 'down')):
        check(re.search(pat, log), 'logged: %s, with its duration' % what, log[-3000:])
    print('timing: slow -> down after %.1fs (dead_after %d s), weights %s'
          % (time.monotonic() - t0, DEAD_MS // 1000, steps), flush=True)
    s = a.status()
    check(s['reply'] == down['reply'], 'still slow while down: the reason stays', s['reply'])

    # ---- 7. healthy again
    nova.set_mode('healthy')
    healthy(a, 'healthy again after rise')
    check(a.status()['health']['fault'] == 'none', 'fault none again')


def run():
    wd = tempdir('zdu-it-slow-')
    path = os.path.join(wd, 'notify.sock')
    ns = NotifySocket(path)
    nova = NovaProc(wd)
    try:
        st = probe_settings(nova.url, interval_ms=INTERVAL, timeout_ms=TIMEOUT,
                            connect_timeout_ms=CONNECT, rise=RISE, fall=FALL)
        a = NotifyAgent(path, workdir=wd, settings=st, name='slow', start=False)
        drain = Drain(ns)
        drain.start()
        a.start()
        try:
            part_defaults(a, ns, nova, wd)
            part_dead_after(a, ns, nova)
            stop_clean(a)
        finally:
            a.stop()
            drain.stop()
    finally:
        nova.stop()
        ns.close()


if __name__ == '__main__':
    main(run)
