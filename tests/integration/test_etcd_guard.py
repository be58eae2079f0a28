#!/usr/bin/python3
"""The fleet guard (issue 15, part 2): with etcd, a node slow for probe.dead_after_ms stays up
while going down would leave fewer than guard.min_up_percent (default 50) of its service's
nodes up; hard failures still go down.

Three agents n1..n3 publishing under /zdu in a real 3-member etcd (127.0.0.21-23), each probing
its own fake nova-api (tests/lib/fake_nova.py), behind a real HAProxy 2.6 whose three servers
are agent-checked. Probe: interval 400 ms, timeout 300 ms, rise 2, fall 2, dead_after 4 s; slow
nova answers 900 ms late. guard.min_up_percent is left at its default.

  1. n1 and n2 slow at the same moment: both reach dead_after within about one probe of each
     other. Exactly one goes down ('down ready 100% #nova-api: slow for 4.x s': 2 of 3 stay up,
     >= 50 %); the other stays up at the lowest slow weight with the reason
     'kept up: 1 of 3 nodes already down' (going down would leave 1 of 3, < 50 %), over the
     agent port too, and stays so over several checks; its --status (text and JSON) and its
     published state in etcd say since when, how long, how many peers up/down; the log says it.
  2. n3 slow as well: at dead_after it is kept up too (n1/n2's held one still counts as up).
  3. the held one of n1/n2 fails hard (connection refused): down within fall x interval
     (+ the probe in flight + slack) despite the guard, fault hard. n3 then says the issue's
     own words: 'kept up: 2 of 3 nodes already down'. A garbage value under /zdu/agents/ is a
     peer not up ('kept up: 3 of 4'), listed as unreadable with the reason; gone, 2 of 3 again.
  4. etcd stopped (every member): n3 stays up, 'kept up: peers unknown (etcd unreachable)';
     etcd back: '2 of 3 nodes already down' again.
  5. every nova healthy again: all three back to 'up ready 100% #nova-api 2.93'.
  6. SIGHUP with guard.min_up_percent 0: the guard is off (status, --status).
Throughout, a thread samples HAProxy's show stat: the backend always has a server UP, and
HAProxy never logs "no server available".

Against the agent before the guard (i-slow), step 1 fails: both n1 and n2 go down at
dead_after, leaving one node of three.
"""

import json
import os
import re
import threading
import time

from agentlib import Agent, check, main
from etcdlib import EtcdCluster, agent_etcd_settings, agent_key
from haproxy import HAProxy
from probelib import HEALTHY_REPLY, NovaProc, op_token, probe_settings, stop_clean
from testutil import tempdir, wait_until

INTERVAL, TIMEOUT, CONNECT, RISE, FALL = 400, 300, 300, 2, 2
DEAD_MS = 4000
SLOW_DELAY_MS = 900
FALL_S = FALL * INTERVAL / 1000.0
SLACK_S = 1.5
NODES = ('n1', 'n2', 'n3')
KEPT_RE = re.compile(r'^up ready 10% #kept up: (\d) of 3 nodes already down; nova-api: slow: '
                     r'(\d+ ms|\d+\.\d s); nova-api 2\.93$')
SLOW_DOWN_RE = re.compile(r'^down ready 100% #nova-api: slow for (\d+\.\d) s$')


def kept(reply, down=None):
    m = KEPT_RE.match(reply or '')
    return bool(m) and (down is None or int(m.group(1)) == down)


class Sampler(threading.Thread):
    """show stat every 50 ms: the fewest servers UP seen, and when."""

    def __init__(self, lb):
        super().__init__(daemon=True)
        self.lb = lb
        self.min_up = None
        self.samples = 0
        self.errors = 0
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            try:
                rows = [r for r in self.lb.show_stat('nova-api') if r['svname'] not in ('FRONTEND', 'BACKEND')]
                up = sum(1 for r in rows if r['status'].startswith('UP'))
                self.samples += 1
                if self.min_up is None or up < self.min_up:
                    self.min_up = up
            except Exception:
                self.errors += 1
            self.stopping.wait(0.05)

    def stop(self):
        self.stopping.set()
        self.join(5)


def replies(agents):
    return {n: a.reply() for n, a in agents.items()}


def wait_replies(agents, pred, timeout, what):
    last = {}

    def poll():
        last['r'] = replies(agents)
        return pred(last['r'])
    t0 = time.monotonic()
    wait_until(poll, timeout=timeout, interval=0.05,
               message=lambda: '%s (last replies %r)' % (what, last.get('r')))
    return last['r'], time.monotonic() - t0


def published(ec, node):
    v = ec.get(agent_key(node))
    return json.loads(v.decode()) if v is not None else None


def run():
    wd = tempdir('zdu-it-guard-')
    novas, agents = {}, {}
    with EtcdCluster(wd) as ec:
        try:
            for n in NODES:
                novas[n] = NovaProc(wd, name='nova-' + n)
                st = probe_settings(novas[n].url, interval_ms=INTERVAL, timeout_ms=TIMEOUT,
                                    connect_timeout_ms=CONNECT, rise=RISE, fall=FALL,
                                    dead_after_ms=DEAD_MS)
                st.update(agent_etcd_settings(ec, node=n, lease_ttl_s=3, publish_interval_ms=200))
                adir = os.path.join(wd, n)
                os.makedirs(adir)
                agents[n] = Agent(workdir=adir, settings=st, name='agent-' + n)
            for a in agents.values():
                a.start()
            lb = HAProxy(wd, servers=[dict(name=n, addr='127.0.0.1', port=novas[n].port,
                                           agent_addr='127.0.0.1', agent_port=agents[n].port)
                                      for n in NODES], agent_inter_ms=200)
            lb.start()
            sampler = None
            try:
                wait_replies(agents, lambda r: all(v == HEALTHY_REPLY for v in r.values()), 20,
                             'every agent healthy')
                for n in NODES:
                    wait_until(lambda: (published(ec, n) or {}).get('reply') == HEALTHY_REPLY,
                               timeout=10, message='%s published healthy' % n)
                    lb.wait_server(n, {'status': 'UP', 'weight': 100}, timeout=10)
                print('published by n3: %s' % ec.get(agent_key('n3')).decode(), flush=True)
                sampler = Sampler(lb)
                sampler.start()
                steps(ec, lb, novas, agents)
                sampler.stop()
                print('HAProxy: %d samples of show stat, fewest servers UP: %s (%d errors)'
                      % (sampler.samples, sampler.min_up, sampler.errors), flush=True)
                check(sampler.samples > 100 and sampler.min_up is not None and sampler.min_up >= 1,
                      'HAProxy always had a server UP', (sampler.samples, sampler.min_up))
                check('no server available' not in lb.log_text(),
                      'HAProxy never logged "no server available"',
                      [line for line in lb.log_text().splitlines() if 'no server' in line])
                for a in agents.values():
                    stop_clean(a)
            finally:
                if sampler is not None:
                    sampler.stop()
                lb.stop()
        finally:
            for a in agents.values():
                a.stop()
            for nv in novas.values():
                nv.stop()


def steps(ec, lb, novas, agents):
    logs0 = {n: a.log_size() for n, a in agents.items()}

    # ---------------------------------------------------------------- 1. two slow at once
    t0 = time.monotonic()
    novas['n1'].set_mode('slow', delay_ms=SLOW_DELAY_MS)
    novas['n2'].set_mode('slow', delay_ms=SLOW_DELAY_MS)
    pair = ('n1', 'n2')

    def settled(r):
        downs = [n for n in pair if op_token(r[n]) == 'down']
        return downs and all(op_token(r[n]) == 'down' or kept(r[n]) for n in pair)
    r, dt = wait_replies(agents, settled, DEAD_MS / 1000.0 + 15, 'n1 and n2 slow: one down, the other kept up')
    print('timing: n1+n2 slow: settled %.1fs after the switch (dead_after %.1fs): %r'
          % (dt, DEAD_MS / 1000.0, {n: r[n] for n in pair}), flush=True)
    downs = [n for n in pair if op_token(r[n]) == 'down']
    check(len(downs) == 1, 'exactly one of n1, n2 went down (2 of 3 stay up, >= 50%)', r)
    gone = downs[0]
    held = 'n2' if gone == 'n1' else 'n1'
    m = SLOW_DOWN_RE.match(r[gone])
    check(m and float(m.group(1)) >= DEAD_MS / 1000.0,
          '%s: "down ready 100%% #nova-api: slow for %d.x s", after dead_after' % (gone, DEAD_MS // 1000),
          r[gone])
    check(kept(r[held], down=1), '%s: "up ready 10%% #kept up: 1 of 3 nodes already down; '
          'nova-api: slow: ..."' % held, r[held])
    check(r['n3'] == HEALTHY_REPLY, 'n3 healthy', r['n3'])
    s = agents['n3'].status()
    check(s['guard'] and s['guard']['active'] and s['guard']['min_up_percent'] == 50,
          'status: the guard is on, guard.min_up_percent 50 (the default)', s['guard'])
    pub = published(ec, 'n3')
    check(pub.get('service') == 'nova-api', 'the published state names its service',
          pub.get('service'))
    # It stays so: several checks, each one a read of the peers.
    sh = agents[held].status()
    c0 = sh['health']['guard']['checks']
    t_hold = time.monotonic()
    seen = set()
    while time.monotonic() - t_hold < 3.0:
        r = replies(agents)
        seen.add((r[held] if not kept(r[held], down=1) else 'kept', r[gone] if op_token(r[gone]) != 'down' else 'down'))
        time.sleep(0.1)
    check(seen == {('kept', 'down')}, 'for 3 s: %s kept up, %s down' % (held, gone), seen)
    sh = agents[held].status()
    g = sh['health']['guard']
    print('status of %s: health %s; guard %s' % (held, json.dumps(sh['health']), json.dumps(sh['guard'])),
          flush=True)
    check(g['checks'] >= c0 + 2, 'it asked again at every probe: %d checks in 3 s' % (g['checks'] - c0),
          (c0, g['checks']))
    check(sh['health']['state'] == 'up' and sh['health']['fault'] == 'soft'
          and sh['health']['slow']['weight_percent'] == 10,
          'status: health up, fault soft, at the lowest slow weight (10%)', sh['health'])
    check(g['nodes'] == 3 and g['up'] == 1 and g['down'] == 1 and g['min_up_percent'] == 50
          and g['reason'] == 'kept up: 1 of 3 nodes already down' and g['for_ms'] >= 3000
          and re.match(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$', g['since']),
          'status health.guard: since, for_ms, nodes 3, peers up 1 / down 1, the reason', g)
    peers = {p['node']: p for p in sh['guard']['peers']}
    check(set(peers) == {gone, 'n3'} and peers['n3']['state'] == 'up'
          and peers[gone]['state'] in ('down', 'going down'),
          'status guard.peers: the other two, %s down, n3 up' % gone, sh['guard']['peers'])
    check(sh['guard']['claims'] == 0 and sh['guard']['last']['outcome'] == 'keep',
          'the held one claimed nothing; its last check: keep', sh['guard'])
    sg = agents[gone].status()
    check(sg['guard']['claims'] == 1 and sg['health']['fault'] == 'soft',
          '%s claimed its way down once (fault soft)' % gone, (sg['guard'], sg['health']))
    txt = agents[held].cli('--status').stdout
    print(txt, flush=True)
    check(re.search(r'^  guard:     kept up since \S+Z \(for \d+\.\d s, \d+ checks\): 1 of 3 nodes '
                    r'already down; going down would leave 1 of 3 up, under guard\.min_up_percent 50%$',
                    txt, re.M)
          and 'the fleet guard keeps it up' in txt
          and re.search(r'^  peer:      n3 up ', txt, re.M),
          'zdu-agent --status: the guard line (since, for, checks, the counts), the peers', txt)
    pub = wait_until(lambda: (lambda p: p if p and (p.get('health') or {}).get('guard') else None)(
        published(ec, held)), timeout=5, message='the held state published')
    check(kept(pub['reply'], down=1) and pub['health']['guard']['nodes'] == 3
          and pub['health']['guard']['down'] == 1 and 'for_ms' not in pub['health']['guard']
          and 'since' in pub['health']['guard'] and 'guard' not in pub,
          'the published state says it is kept up, since when, the counts (no moving for_ms, '
          'no copy of the peers)', pub)
    log = agents[held].log_text()[logs0[held]:]
    check(re.search(r'notice: probe: nova-api slow for \d+\.\d s, probe\.dead_after_ms \(4\.0 s\) '
                    r'reached: asking the fleet guard', log)
          and re.search(r'notice: guard: kept up: 1 of 3 nodes already down: going down would leave 1 '
                        r'of 3 nodes up, under guard\.min_up_percent \(50%\): kept up at the lowest '
                        r'slow weight', log),
          '%s logged: dead_after reached, asking the guard; kept up, with the numbers' % held, log[-3000:])
    log = agents[gone].log_text()[logs0[gone]:]
    check(re.search(r'notice: guard: 2 of 3 nodes stay up without this node \(guard\.min_up_percent '
                    r'50%\): down', log)
          and re.search(r'notice: probe: nova-api slow for \d+\.\d s, probe\.dead_after_ms \(4\.0 s\) '
                        r'reached: down', log),
          '%s logged: the guard let it go down, and why' % gone, log[-3000:])
    row = lb.wait_server(held, lambda row: row['status'].startswith('UP') and row['weight'] == '10',
                         timeout=5)
    print('HAProxy: %s %s weight %s, %s %s' % (held, row['status'], row['weight'], gone,
                                               lb.server(gone)['status']), flush=True)

    # ---------------------------------------------------------------- 2. the third slow too
    novas['n3'].set_mode('slow', delay_ms=SLOW_DELAY_MS)
    r, dt = wait_replies(agents, lambda r: kept(r['n3']), DEAD_MS / 1000.0 + 10,
                         'n3 slow: kept up at dead_after')
    print('timing: n3 kept up %.1fs after it turned slow: %r' % (dt, r['n3']), flush=True)
    check(kept(r['n3'], down=1) and kept(r[held], down=1) and op_token(r[gone]) == 'down',
          'n3 kept up too (1 of 3 down: %s still counts as up), %s still kept up' % (held, held), r)

    # ---------------------------------------------------------------- 3. a hard failure is never held
    log0 = agents[held].log_size()
    t0 = time.monotonic()
    novas[held].set_mode('refused')
    r, dt = wait_replies(agents, lambda r: op_token(r[held]) == 'down', 15,
                         '%s refused: down despite the guard' % held)
    print('timing: %s refused while kept up: down %.2fs after the switch (bound %.1fs)'
          % (held, dt, FALL_S + 0.5 + SLACK_S), flush=True)
    # (the slow probe in flight when nova stops is cut: 'empty answer' or 'connection reset';
    # then 'connection refused')
    check(re.match(r'^down ready 100% #nova-api: (connection refused|connection reset|empty answer)$',
                   r[held]),
          '%s: "down ready 100%% #nova-api: connection refused" (or the cut probe\'s reset)'
          % held, r[held])
    check(dt <= FALL_S + 0.5 + SLACK_S, 'down within fall x interval (%.1fs) + the probe in flight '
          '+ %.1fs slack' % (FALL_S, SLACK_S), dt)
    check(agents[held].status()['health']['fault'] == 'hard', 'fault hard')
    agents[held].wait_log(re.compile(r'notice: guard: held the node up for \d+\.\d s \(\d+ checks\): '
                                     r'a failure takes the node down'), timeout=5, start=log0)
    r, dt = wait_replies(agents, lambda r: kept(r['n3'], down=2), 10,
                         'n3: kept up: 2 of 3 nodes already down')
    print('n3 now: %r (%.1fs later)' % (r['n3'], dt), flush=True)
    s3 = agents['n3'].status()
    check(s3['health']['guard']['down'] == 2 and s3['health']['guard']['up'] == 0,
          'n3 status: 2 peers down, none up', s3['health']['guard'])
    check(lb.server('n3')['status'].startswith('UP'), 'HAProxy: n3 still UP', lb.server('n3'))

    # ---------------------------------------------------------------- 3b. a peer's value is garbage
    ec.put(agent_key('bogus'), b'\x00{not json')
    r, dt = wait_replies(agents, lambda r: (r['n3'] or '').startswith(
        'up ready 10% #kept up: 3 of 4 nodes already down;'), 10, 'n3: the garbage peer counts as not up')
    s3 = agents['n3'].status()
    bogus = [p for p in s3['guard']['peers'] if p['node'] == 'bogus']
    check(bogus and bogus[0]['state'] == 'unreadable' and bogus[0]['why'].startswith('not JSON: ')
          and bogus[0]['up'] is False,
          'a garbage value under /zdu/agents/: a peer not up, "unreadable", saying why', bogus)
    txt = agents['n3'].cli('--status').stdout
    check(re.search(r'^  peer:      bogus unreadable \(not JSON: ', txt, re.M), '--status lists it', txt)
    check(all(a.running() for a in agents.values()), 'every agent still runs')
    ec.delete(agent_key('bogus'))
    wait_replies(agents, lambda r: kept(r['n3'], down=2), 10, 'n3: 2 of 3 again once it is gone')

    # ---------------------------------------------------------------- 4. etcd away
    ec.stop_all()
    t0 = time.monotonic()
    r, dt = wait_replies(agents, lambda r: (r['n3'] or '').startswith(
        'up ready 10% #kept up: peers unknown (etcd unreachable); nova-api: slow: '), 15,
        'n3 with etcd stopped: kept up, peers unknown')
    print('timing: etcd stopped: n3 %r %.1fs later' % (r['n3'], dt), flush=True)
    s3 = agents['n3'].status()
    check(s3['health']['guard']['peers_unknown'] is True and 'etcd unreachable' in (s3['guard']['error'] or ''),
          'status: peers unknown, and what failed where', (s3['health']['guard'], s3['guard']['error']))
    txt = agents['n3'].cli('--status').stdout
    check(re.search(r'^  guard:     kept up since \S+Z \(for \d+\.\d s, \d+ checks\): kept up: peers '
                    r'unknown \(etcd unreachable\)$', txt, re.M)
          and re.search(r'^  error:     read: etcd unreachable: ', txt, re.M),
          '--status says the peers are unknown, and why', txt)
    agents['n3'].wait_log(re.compile(r'warning: guard: cannot count the peers in etcd \(read: etcd '
                                     r'unreachable: .*\): a node slow too long stays up'), timeout=5)
    ec.start_all()
    r, dt = wait_replies(agents, lambda r: kept(r['n3'], down=2), 30, 'n3 with etcd back: 2 of 3 down')
    print('timing: etcd back: n3 %r %.1fs later' % (r['n3'], dt), flush=True)

    # ---------------------------------------------------------------- 5. healed
    for n in NODES:
        novas[n].set_mode('healthy')
    r, dt = wait_replies(agents, lambda r: all(v == HEALTHY_REPLY for v in r.values()), 20,
                         'every agent healthy again')
    print('timing: healed: every agent healthy %.1fs after the switch' % dt, flush=True)
    for n in NODES:
        lb.wait_server(n, {'status': 'UP', 'weight': 100}, timeout=10)
    agents['n3'].wait_log(re.compile(r'notice: guard: held the node up for \d+\.\d s \(\d+ checks\): '
                                     r'nova-api answers in time again'), timeout=5)
    s3 = agents['n3'].status()
    check(s3['health']['guard'] is None and s3['health']['fault'] == 'none',
          'n3: no longer held, fault none', s3['health'])

    # ---------------------------------------------------------------- 6. reloaded off
    a3 = agents['n3']
    a3.settings['guard'] = {'min_up_percent': 0}
    a3.write_config()
    log0 = a3.log_size()
    a3.hup()
    a3.wait_log('configuration reloaded', timeout=5, start=log0)
    g = a3.status()['guard']
    check(g['active'] is False and g['min_up_percent'] == 0, 'SIGHUP with guard.min_up_percent 0: '
          'the guard is off', g)
    check(re.search(r'^guard:       off \(guard\.min_up_percent 0%\)$', a3.cli('--status').stdout, re.M),
          '--status says it is off')


if __name__ == '__main__':
    main(run)
