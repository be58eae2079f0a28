#!/usr/bin/python3
"""Chaos (issue 15): every real nova-api slow at once must not empty the backend.

Three real nova-api nodes (tests/nova: Debian's python3-nova under uwsgi, 2 workers each) on
127.0.0.61-63 (free ports), each with its zdu-agent using the e2e's fast probe settings
(interval 500 ms, timeout 450 ms, connect timeout 400 ms, rise 2, fall 2) and the defaults of
everything else (probe.dead_after_ms 60000), behind one real HAProxy 2.6 (agent-check every
500 ms, its own TCP check every 500 ms, `option http-server-close`), under the e2e's client load
(tests/e2e/loadgen.py: 300 req/s in 24 streams through the HAProxy frontend, discovery of
GET /v2.1/ then GET /v2.1/flavors).

The slowdown: for SLOW_S seconds (10; ZDU_SLOW_S) every uwsgi process of all three nodes is
stopped (SIGSTOP) for 2 s, continued (SIGCONT) for 0.25 s, and so on: the kernel still accepts
connections (HAProxy's TCP check stays green), answers wait up to 2 s. On this machine cgroup
v2 has no cpu controller (cgroup v1's cpu is mounted), so the portable SIGSTOP/SIGCONT bursts are
used rather than cpu.max throttling. Then a real death: node1's uwsgi is killed (SIGKILL).

Checked:
  * HAProxy never logs "no server available";
  * no request fails with 503 from the start of the slowdown until every agent says
    'up ready 100%' again (loadgen records, by time); every other failure is counted and
    printed;
  * each node's agent showed it slow ('up ready N% #nova-api: slow: X s; nova-api 2.93', the
    installed release's maximum) and
    never down during the slowdown; each measured a slow probe of at least 1 s; HAProxy showed
    the lowered weights;
  * the version document through HAProxy really took 1 s or more (the slowest discoveries);
  * the real death: node1's agent replies down within fall x interval (+ the probe in flight
    + 1 s slack), HAProxy marks node1 DOWN, the two others stay UP.
Printed: requests, failures by kind, 503s, the version document's latencies during the
slowdown, the weights seen, the recovery and detection times.

On an agent from before issue 15 all three agents reply down within about a second of the
slowdown's start, HAProxy logs "backend 'nova-api' has no server available!" and clients get
503s: this test fails there.

Environment: ZDU_SLOW_S (10; CTest runs this file again with 30 as integration_slow_not_down_30s),
ZDU_SLOW_PROBE (fast; "defaults": the agent's default probe settings, 2 s / 1 s / fall 3, with
3 s stalls and 0.1 s between them), ZDU_SLOW_STOP_S (2.0), ZDU_SLOW_CONT_S (0.25), ZDU_SLOW_RATE
(300), ZDU_SLOW_STREAMS (24).
Exit 77 (skipped) only when python3-nova cannot be installed.
"""

import json
import os
import re
import signal
import sys
import threading
import time

from agentlib import Agent, check, main
from haproxy import HAProxy, base_status
from probelib import (REAL_HEALTHY_REPLY as HEALTHY_REPLY, installed_nova_max, nova_node, op_token,
                      real_nova_or_skip, stop_clean)
from testutil import Proc, free_port, parallel, tempdir, wait_until

SRC = os.environ.get('ZDU_SOURCE_DIR') or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                       '..', '..')
LOADGEN = os.path.join(SRC, 'tests', 'e2e', 'loadgen.py')
ADDRS = ['127.0.0.61', '127.0.0.62', '127.0.0.63']
# The e2e's fast probe settings, or (ZDU_SLOW_PROBE=defaults) the agent's defaults.
PROBE = os.environ.get('ZDU_SLOW_PROBE') or 'fast'
if PROBE == 'defaults':
    INTERVAL, TIMEOUT, CONNECT, RISE, FALL = 2000, 1000, 500, 2, 3
else:
    INTERVAL, TIMEOUT, CONNECT, RISE, FALL = 500, 450, 400, 2, 2
SLOW_S = float(os.environ.get('ZDU_SLOW_S') or 10)
# Stalls long enough that the version document takes 1-3 s: 2 s against the fast settings'
# 450 ms timeout, 3 s against the defaults' 1 s (shorter ones never fail 3 probes in a row).
STOP_S = float(os.environ.get('ZDU_SLOW_STOP_S') or (3.0 if PROBE == 'defaults' else 2.0))
CONT_S = float(os.environ.get('ZDU_SLOW_CONT_S') or (0.1 if PROBE == 'defaults' else 0.25))
RATE = float(os.environ.get('ZDU_SLOW_RATE') or 300)
STREAMS = int(os.environ.get('ZDU_SLOW_STREAMS') or 24)
SLACK_S = 1.0
SLOW_RE = re.compile(r'^up ready (\d+)% #nova-api: slow: (?:(\d+\.\d) s|(\d+) ms|no answer in [\d.]+ m?s)'
                     r'; nova-api ' + re.escape(installed_nova_max()) + '$')


def log(msg):
    print('[%s] %s' % (time.strftime('%H:%M:%S'), msg), flush=True)


def uwsgi_pids(node_dir):
    """The processes nova-node started for NODE_DIR: their command line names its pidfile."""
    want = ['--pidfile', os.path.join(node_dir, 'uwsgi.pid')]
    pids = []
    for p in os.listdir('/proc'):
        if not p.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % p, 'rb') as f:
                args = f.read().decode(errors='replace').split('\0')
        except OSError:
            continue
        if any(args[i:i + 2] == want for i in range(len(args) - 1)):
            pids.append(int(p))
    return pids


def signal_all(pids, sig):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


class Node:
    def __init__(self, i, addr, wd):
        self.name = 'node%d' % (i + 1)
        self.addr = addr
        self.port = free_port(addr)
        self.dir = os.path.join(wd, self.name)
        self.agent = None
        self.pids = []


def start_novas(nodes):
    def one(n):
        dt = nova_node('start', n.dir, n.addr, n.port)
        log('%s: real nova-api on %s:%d answered after %.1fs' % (n.name, n.addr, n.port, dt))
    parallel(one, nodes)


class Slowdown(threading.Thread):
    """SIGSTOP every uwsgi process of every node for STOP_S, SIGCONT for CONT_S, for SLOW_S."""

    def __init__(self, pids):
        super().__init__(daemon=True)
        self.pids = pids
        self.bursts = 0
        self.began = self.ended = None

    def run(self):
        self.began = time.time()
        end = time.monotonic() + SLOW_S
        try:
            while time.monotonic() < end:
                signal_all(self.pids, signal.SIGSTOP)
                self.bursts += 1
                time.sleep(max(0.0, min(STOP_S, end - time.monotonic())))
                signal_all(self.pids, signal.SIGCONT)
                if time.monotonic() < end:
                    time.sleep(CONT_S)
        finally:
            signal_all(self.pids, signal.SIGCONT)
            self.ended = time.time()


def slow_of(reply):
    """(weight, seconds or None) of a slow reply, else None."""
    m = SLOW_RE.match(reply)
    if not m:
        return None
    secs = float(m.group(2)) if m.group(2) else (int(m.group(3)) / 1000.0 if m.group(3) else None)
    return int(m.group(1)), secs


def sample(nodes, lb, samples):
    """One snapshot of every agent and of HAProxy's servers."""
    t = time.time()
    rows = {}
    try:
        for r in lb.show_stat('nova-api'):
            rows[r['svname']] = r
    except (OSError, ValueError) as e:
        rows = {'error': str(e)}
    for n in nodes:
        s = n.agent.status()
        samples.append(dict(t=t, node=n.name, reply=s['reply'], health=s['health'],
                            lb=rows.get(n.name, {})))


def pct(vals, q):
    vals = sorted(vals)
    return vals[min(len(vals) - 1, max(0, int(round(q * len(vals) + 0.5)) - 1))] if vals else None


def run():
    real_nova_or_skip()
    wd = tempdir('zdu-it-chaos-')
    nodes = [Node(i, a, wd) for i, a in enumerate(ADDRS)]
    lb = loadgen = None
    all_pids = []
    t_start = time.monotonic()
    try:
        for n in nodes:
            nova_node('setup', n.dir)
        start_novas(nodes)
        for n in nodes:
            n.pids = uwsgi_pids(n.dir)
            check(len(n.pids) >= 3, '%s: uwsgi master and workers found' % n.name, n.pids)
            all_pids += n.pids
            probe = {'enabled': True, 'url': 'http://%s:%d/v2.1/' % (n.addr, n.port)}
            if PROBE != 'defaults':
                probe.update(interval_ms=INTERVAL, timeout_ms=TIMEOUT, connect_timeout_ms=CONNECT,
                             rise=RISE, fall=FALL)
            n.agent = Agent(workdir=os.path.join(wd, n.name + '-agent'), addr=n.addr, name=n.name,
                            settings={'probe': probe})
            n.agent.start()
        for n in nodes:
            wait_until(lambda: n.agent.reply() == HEALTHY_REPLY, timeout=20, interval=0.05,
                       message='%s agent healthy' % n.name)
        fport = free_port('127.0.0.1')
        lb = HAProxy(wd, name='lb1', frontend=('127.0.0.1', fport), agent_inter_ms=500, check=True,
                     check_inter_ms=500, mode='http',
                     servers=[dict(name=n.name, addr=n.addr, port=n.port, weight=100,
                                   agent_port=n.agent.port) for n in nodes])
        lb.start()
        wait_until(lambda: all(base_status(lb.server(n.name)['status']) == 'UP'
                               and lb.server(n.name)['weight'] == '100' for n in nodes),
                   timeout=30, interval=0.1, message='every server UP, weight 100')
        log('cluster ready in %.1fs; probe settings: %s (interval %d ms, timeout %d ms, fall %d)'
            % (time.monotonic() - t_start, PROBE, INTERVAL, TIMEOUT, FALL))

        records = os.path.join(wd, 'records.jsonl')
        summary = os.path.join(wd, 'load.json')
        loadgen = Proc(['/usr/bin/python3', LOADGEN, '--url', 'http://127.0.0.1:%d' % fport,
                        '--rate', RATE, '--streams', STREAMS, '--procs', 3, '--records', records,
                        '--summary', summary], os.path.join(wd, 'loadgen.log'))

        def served():
            fe = [r for r in lb.show_stat() if r['svname'] == 'FRONTEND']
            return fe and int(fe[0]['stot'] or 0) >= RATE * 2
        wait_until(served, timeout=30, interval=0.1, message='the load is flowing')
        log('load flowing (%.0f req/s target, %d streams)' % (RATE, STREAMS))

        # ---- the slowdown
        samples = []
        slow = Slowdown(all_pids)
        slow.start()
        log('slowdown: every uwsgi process stopped %.2fs, continued %.2fs, for %.0fs'
            % (STOP_S, CONT_S, SLOW_S))
        while slow.is_alive():
            sample(nodes, lb, samples)
            time.sleep(0.1)
        t_slow_end = time.time()
        log('slowdown over after %d bursts' % slow.bursts)

        def recovered():
            sample(nodes, lb, samples)
            return all(s['reply'] == HEALTHY_REPLY for s in samples[-len(nodes):])
        wait_until(recovered, timeout=30, interval=0.1, message='every agent healthy again')
        t_rec = time.time()
        log('every agent "up ready 100%%" again %.1fs after the slowdown' % (t_rec - t_slow_end))
        slow_samples = list(samples)
        # requests begun before the recovery end before the death below
        time.sleep(2.0)

        # ---- a real death
        victim = nodes[0]
        t_kill = time.monotonic()
        signal_all(victim.pids, signal.SIGKILL)
        down = wait_until(lambda: (lambda r: r if op_token(r) == 'down' else None)(victim.agent.reply()),
                          timeout=15, interval=0.01, message='%s agent down' % victim.name)
        dt_down = time.monotonic() - t_kill
        row = lb.wait_server(victim.name, lambda r: r['status'].startswith('DOWN'), timeout=10,
                             interval=0.02)
        dt_lb = time.monotonic() - t_kill
        log('%s killed: agent "%s" after %.2fs, HAProxy %s after %.2fs'
            % (victim.name, down, dt_down, row['status'], dt_lb))
        others_up = all(base_status(lb.server(n.name)['status']) == 'UP' and
                        n.agent.reply() == HEALTHY_REPLY for n in nodes[1:])
        time.sleep(1.0)   # a little load after the death, for the record

        loadgen.stop(timeout=40)
        with open(summary) as f:
            load = json.load(f)
        with open(records) as f:
            recs = [json.loads(line) for line in f]
        haproxy_log = lb.log_text()

        # ---- what happened
        win = [r for r in recs if slow.began <= r['t'] <= t_rec]
        w503 = [r for r in win if r['st'] == 503]
        wfail = {}
        for r in win:
            if r['err']:
                k = '%s %s' % (r['err'], r['st']) if r['st'] else r['err']
                wfail[k] = wfail.get(k, 0) + 1
        after = [r for r in recs if r['t'] > t_rec]
        afail = {}
        for r in after:
            if r['err']:
                k = '%s %s' % (r['err'], r['st']) if r['st'] else r['err']
                afail[k] = afail.get(k, 0) + 1
        disc = [r['lat'] for r in recs if r['p'] == '/v2.1/' and r['st'] == 200
                and slow.began <= r['t'] <= slow.ended]
        log('load: %d requests in all, %d failed %s, %d x 503, max latency %.2fs, %.0f req/s'
            % (load['requests'], load['failed'], load['failed_by_kind'], load['status'].get('503', 0),
               load['max_latency'], load['achieved_rate']))
        log('from the slowdown to recovery (%.1fs): %d requests, failures by kind %s, %d x 503'
            % (t_rec - slow.began, len(win), wfail, len(w503)))
        log('after the recovery (the death of %s included): %d requests, failures %s'
            % (victim.name, len(after), afail))
        if disc:
            log('version document through HAProxy during the slowdown: %d answers, p50 %.2fs, '
                'p90 %.2fs, max %.2fs' % (len(disc), pct(disc, 0.5), pct(disc, 0.9), max(disc)))
        per_node = {}
        for n in nodes:
            mine = [s for s in slow_samples if s['node'] == n.name]
            slows = [slow_of(s['reply']) for s in mine if slow_of(s['reply'])]
            per_node[n.name] = dict(
                samples=len(mine), slow_samples=len(slows),
                down_samples=sum(1 for s in mine if op_token(s['reply']) != 'up'),
                weights=sorted(set(w for w, _ in slows)),
                slow_s=sorted(set(x for _, x in slows if x is not None)),
                max_ms=max([s['health']['slow']['max_ms'] for s in mine if s['health'].get('slow')]
                           or [0]),
                lb_weights=sorted(set(s['lb'].get('weight') for s in mine if s['lb'])),
                lb_status=sorted(set(s['lb'].get('status') for s in mine if s['lb'])),
                other=sorted(set(s['reply'] for s in mine
                                 if s['reply'] != HEALTHY_REPLY and not slow_of(s['reply'])))[:5])
            log('%s: %s' % (n.name, per_node[n.name]))
        nsa = [ln for ln in haproxy_log.splitlines() if 'no server available' in ln]
        for ln in haproxy_log.splitlines():
            if 'nova-api/' in ln and ('is DOWN' in ln or 'is UP' in ln or 'no server' in ln):
                log('haproxy: %s' % ln.strip()[:200])

        # ---- the checks
        check(not nsa, 'HAProxy never logged "no server available"', nsa[:3])
        check(not w503, 'no request failed with 503 from the slowdown to the recovery '
              '(%d requests)' % len(win), w503[:3])
        for n in nodes:
            p = per_node[n.name]
            check(p['slow_samples'] > 0 and p['down_samples'] == 0,
                  '%s: its agent showed it slow (%d of %d samples, weights %s) and never down'
                  % (n.name, p['slow_samples'], p['samples'], p['weights']), p)
            check(p['max_ms'] >= 1000, '%s: a slow probe of at least 1 s measured (%d ms)'
                  % (n.name, p['max_ms']), p)
            check(any(w not in ('100', None) for w in p['lb_weights']),
                  '%s: HAProxy applied the lowered weight (%s)' % (n.name, p['lb_weights']), p)
        check(disc and max(disc) >= 1.0,
              'the version document through HAProxy took 1 s or more during the slowdown',
              (len(disc), max(disc) if disc else None))
        bound = FALL * INTERVAL / 1000.0 + INTERVAL / 1000.0 + SLACK_S
        check(dt_down <= bound, 'a real death still goes down within fall x interval + the probe '
              'in flight + %.0fs slack: %.2fs <= %.1fs (%r)' % (SLACK_S, dt_down, bound, down))
        check(re.match(r'^down ready 100% #nova-api: connection (refused|reset)$', down),
              'the death is a hard failure', down)
        check(others_up, 'the two other nodes stayed UP and healthy')
        for n in nodes:
            stop_clean(n.agent)
        log('total %.1fs' % (time.monotonic() - t_start))
    finally:
        signal_all(all_pids, signal.SIGCONT)
        if loadgen is not None:
            loadgen.stop(timeout=40)
        if lb is not None:
            lb.stop()
        for n in nodes:
            if n.agent is not None:
                n.agent.stop()
            try:
                nova_node('stop', n.dir)
            except Exception as e:  # noqa: B902
                print('warning: nova-node stop %s: %s' % (n.name, e), flush=True)


if __name__ == '__main__':
    if not os.access(LOADGEN, os.R_OK):
        sys.exit('no %s' % LOADGEN)
    main(run)
