#!/usr/bin/python3
"""etcd-flip.py BUILD_DIR [ROUNDS]: how fast a write of the cluster-wide etcd key reaches the
agents' replies and HAProxy.
etcd-flip.py BUILD_DIR [ROUNDS] --fleet N [--services K]: the same for a fleet (see FLEET below).

A real three-member etcd 3.4 cluster (127.0.0.21-23), three zdu-agents (127.0.0.11-13, probe
off) watching it, two HAProxy with agent-check inter 1000 ms. Each round writes
/zdu/maintenance/all (drain), then deletes it; for each write it measures, from the moment
the write was sent:
  reply  the last of the three agents' replies changed (each agent's TCP reply polled in a
         thread of its own, ~1 ms apart)
  lb     the last of the six (agent, HAProxy) pairs shows the new state (DRAIN, or UP again) in
         `show stat`, polled every 5 ms; also given as the time after the reply change, to
         compare with the agent interval.
Goal (issue 10): reply within 50 ms of the write; HAProxy within one agent interval after.
Prints one line per write and a summary (median, p90, max). Benchmark, not a test: no
threshold decides an exit status; it exits 1 only when a change is not seen in 10 s.

FLEET (issue 17): one etcd member (127.0.0.111) and N agents (127.0.0.112-119, probes off, no
HAProxy) with K services each (K 1: no services list, the one service nova-api; K > 1: a
services list of K probe-disabled services), all on this machine. Each round writes the cluster
key (drain) and deletes it, then writes one node's service key NODE/placement (maint; a
different node each round) and deletes it. For each write it gives, from the moment the write
was sent:
  cluster key -> last reply   when the last of the N agents switched its reply (its own log's
                              'reply now' line, ms resolution; every agent's TCP reply is then
                              checked to say so)
  service key -> that agent   when the one agent watching that key had the service's new flag
                              (its log's 'etcd: service placement: flag' line, at debug level:
                              the per-service reply is the listener's, so this is the moment
                              the flag reaches the agent's state, not its reply)
and etcd's watch stream and watcher counts (/metrics): 2 per agent whatever K."""
import datetime
import os
import re
import statistics
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))

from agentlib import Agent  # noqa: E402
from etcdlib import EtcdCluster, agent_etcd_settings  # noqa: E402
from haproxy import HAProxy  # noqa: E402

INTER_MS = 1000
KEY = '/zdu/maintenance/all'


class Watcher(threading.Thread):
    """Polls one agent's reply; records when it first equals a wanted predicate."""

    def __init__(self, agent):
        super().__init__(daemon=True)
        self.agent = agent
        self.want = None
        self.seen_at = None
        self.stop = False

    def run(self):
        while not self.stop:
            want = self.want
            if want is not None and self.seen_at is None:
                try:
                    r = self.agent.reply(timeout=1.0)
                except Exception:
                    r = ''
                if want(r):
                    self.seen_at = time.monotonic()
            time.sleep(0.001)


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


FLEET_ETCD = '127.0.0.111'
FLEET_ADDRS = ['127.0.0.%d' % i for i in range(112, 120)]
FLEET_SERVICES = ['nova-api', 'placement', 'glance', 'cinder', 'neutron', 'keystone', 'heat',
                  'manila', 'ironic', 'octavia']
LOG_TS = re.compile(r'^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z [a-z]+: (.*)$', re.M)


class LogTail:
    """The new lines of one agent's log since the last read: (epoch, text) pairs."""

    def __init__(self, agent):
        self.path = agent.log_path
        self.off = os.path.getsize(self.path)

    def mark(self):
        self.off = os.path.getsize(self.path)

    def lines(self):
        with open(self.path, 'rb') as f:
            f.seek(self.off)
            data = f.read()
        cut = data.rfind(b'\n') + 1
        self.off += cut
        out = []
        for m in LOG_TS.finditer(data[:cut].decode('utf-8', 'replace')):
            t = datetime.datetime.strptime(m.group(1), '%Y-%m-%dT%H:%M:%S.%f')
            out.append((t.replace(tzinfo=datetime.timezone.utc).timestamp(), m.group(2)))
        return out


def fleet_services_text(k):
    if k <= 1:
        return ''
    items = ['  { name = "%s"; probe_enabled = false; url = "http://127.0.0.1:%d/"; }'
             % (FLEET_SERVICES[i], 8774 + i) for i in range(k)]
    return 'services = (\n%s\n);\n' % ',\n'.join(items)


def etcd_watch_counts(ec):
    with urllib.request.urlopen(ec.endpoints[0] + '/metrics', timeout=5) as r:
        text = r.read().decode()
    out = []
    for name in ('etcd_debugging_mvcc_watch_stream_total', 'etcd_debugging_mvcc_watcher_total'):
        m = re.search(r'^%s (\S+)$' % name, text, re.M)
        out.append(int(float(m.group(1))) if m else -1)
    return out


def reply_of(agent):
    """The agent's TCP reply, a few tries on a loaded machine ('' when none came)."""
    for _ in range(3):
        try:
            return agent.reply(timeout=5)
        except (OSError, TimeoutError, AssertionError):
            time.sleep(0.2)
    return ''


def wait_logs(tails, pred, timeout=20):
    """For each tail, the time of its first new line matching pred; None for those not seen."""
    seen = [None] * len(tails)
    deadline = time.monotonic() + timeout
    while any(t is None for t in seen) and time.monotonic() < deadline:
        for i, tl in enumerate(tails):
            if seen[i] is None:
                for ts, text in tl.lines():
                    if pred(text):
                        seen[i] = ts
                        break
        time.sleep(0.02)
    return seen


def fleet(rounds, n, k):
    from etcdlib import all_key, node_key  # noqa: E402

    if k > 1 and k > len(FLEET_SERVICES):
        print('--services: at most %d' % len(FLEET_SERVICES))
        return 2
    cluster, service = [], []
    with EtcdCluster(n=1, addrs=[FLEET_ETCD]) as ec:
        agents = []
        try:
            t0 = time.monotonic()
            for i in range(n):
                name = 'f%03d' % i
                settings = agent_etcd_settings(ec, node=name, lease_ttl_s=10, timeout_ms=2000)
                settings['log'] = {'level': 'debug' if k > 1 else 'info'}
                a = Agent(addr=FLEET_ADDRS[i % len(FLEET_ADDRS)], name=name, settings=settings,
                          extra_text=fleet_services_text(k))
                a.start(wait=False)
                agents.append(a)
            for a in agents:
                a.wait_ready(60)
            for a in agents:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    st = a.status().get('flag', {}).get('etcd') or {}
                    if st.get('reachable'):
                        break
                    time.sleep(0.1)
                else:
                    print('agent %s: etcd not reached in 60 s' % a.name)
                    return 1
            streams, watchers = etcd_watch_counts(ec)
            print('%d agents x %d service%s up and watching in %.1f s; etcd: %d watch streams, %d '
                  'watchers (%.2f per agent)' % (n, max(k, 1), 's' if k > 1 else '', time.monotonic() - t0,
                                                 streams, watchers, streams / float(n)), flush=True)
            tails = [LogTail(a) for a in agents]
            time.sleep(1.0)  # the agents' first publications settle
            print('%-6s %-28s %12s' % ('round', 'write', 'ms'))
            for r in range(rounds):
                for on in (True, False):
                    for tl in tails:
                        tl.mark()
                    t0 = time.time()
                    if on:
                        ec.put(all_key(), 'mode=drain\nreason=etcd-flip fleet benchmark\n')
                    else:
                        ec.delete(all_key())
                    want = (lambda s: s.startswith('reply now') and 'drain' in s.split('(was')[0]) if on \
                        else (lambda s: s.startswith('reply now') and 'drain' not in s.split('(was')[0])
                    seen = wait_logs(tails, want)
                    if any(x is None for x in seen):
                        late = [a for a, x in zip(agents, seen) if x is None]
                        print('round %d: %d agents did not change within 20 s, e.g. %s' % (
                            r + 1, len(late), [a.name for a in late[:5]]))
                        for a in late[:3]:
                            st = a.status()
                            print('--- %s: reply %r, flag.etcd %s' % (a.name, st.get('reply'),
                                                                      st.get('flag', {}).get('etcd')))
                            print('\n'.join(a.log_text().splitlines()[-12:]))
                        return 1
                    ms = (max(seen) - t0) * 1000
                    cluster.append(ms)
                    bad = [a.name for a in agents if ('drain' in reply_of(a)) != on]
                    if bad:
                        print('round %d: replies of %s do not say so' % (r + 1, bad[:5]))
                        return 1
                    print('%-6d %-28s %12.1f' % (r + 1, 'cluster key ' + ('drain' if on else 'delete')
                                                 + ' -> last', ms), flush=True)
                if k <= 1:
                    continue
                a = agents[(r * 37 + 11) % n]
                tl = tails[agents.index(a)]
                key = node_key(a.name) + '/placement'
                for on in (True, False):
                    tl.mark()
                    t0 = time.time()
                    if on:
                        ec.put(key, 'mode=maint\nreason=etcd-flip fleet benchmark\n')
                    else:
                        ec.delete(key)
                    word = 'maint' if on else 'off'
                    seen = wait_logs([tl], lambda s: s.startswith('etcd: service placement: flag ' + word))
                    if seen[0] is None:
                        print('round %d: %s not seen by %s within 20 s' % (r + 1, key, a.name))
                        return 1
                    ms = (seen[0] - t0) * 1000
                    service.append(ms)
                    print('%-6d %-28s %12.1f' % (r + 1, '%s/placement %s' % (a.name, 'maint' if on else 'delete'),
                                                 ms), flush=True)
            streams, watchers = etcd_watch_counts(ec)
        finally:
            for a in agents:
                if a.running():
                    a.stop()
    print()
    print('%d agents x %d service%s on one etcd member (%s), one machine; etcd at the end: %d watch '
          'streams, %d watchers' % (n, max(k, 1), 's' if k > 1 else '', FLEET_ETCD, streams, watchers))
    for label, v in (('cluster key -> last agent reply', cluster),
                     ('service key -> its agent (state)', service)):
        if v:
            print('  %-34s median %7.1f ms  p90 %7.1f ms  max %7.1f ms  (%d writes)' % (
                label, statistics.median(v), pct(v, 90), max(v), len(v)))
    return 0


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    os.environ.setdefault('ZDU_BUILD_DIR', sys.argv[1])
    os.environ.setdefault('ZDU_AGENT', os.path.join(sys.argv[1], 'agent', 'zdu-agent'))
    args = sys.argv[2:]
    opts = {}
    for o in ('--fleet', '--services'):
        if o in args:
            i = args.index(o)
            opts[o] = int(args[i + 1])
            del args[i:i + 2]
    rounds = int(args[0]) if args else (3 if '--fleet' in opts else 10)
    if '--fleet' in opts:
        return fleet(rounds, opts['--fleet'], opts.get('--services', 1))
    replies, lbs, after = [], [], []
    with EtcdCluster() as ec:
        agents = []
        try:
            for i in range(3):
                name = 'n%d' % (i + 1)
                a = Agent(addr='127.0.0.%d' % (11 + i), name=name,
                          settings=agent_etcd_settings(ec, node=name))
                a.start()
                agents.append(a)
            servers = [dict(name=a.name, addr=a.addr, port=8774, agent_port=a.port, weight=100)
                       for a in agents]
            hps = []
            for j in range(2):
                hp = HAProxy(agents[0].workdir, name='lb%d' % (j + 1), servers=servers,
                             agent_inter_ms=INTER_MS, check=False)
                hp.start()
                hps.append(hp)
            for hp in hps:
                for a in agents:
                    hp.wait_server(a.name, lambda row: row['last_agt'].startswith('via agent : up'), timeout=15)
            watchers = [Watcher(a) for a in agents]
            for w in watchers:
                w.start()
            print('%-6s %-7s %9s %9s %13s' % ('round', 'write', 'reply ms', 'lb ms', 'lb-reply ms'))
            for r in range(rounds):
                for on in (True, False):
                    if on:
                        want = lambda s: 'drain' in s  # noqa: E731
                        lb_ok = lambda st: st.startswith('DRAIN')  # noqa: E731
                    else:
                        want = lambda s: 'drain' not in s and s.startswith('up')  # noqa: E731
                        lb_ok = lambda st: not st.startswith('DRAIN') and not st.startswith('MAINT')  # noqa: E731
                    # without a health check, a ready server shows 'no check'
                    time.sleep(INTER_MS / 1000.0 * 0.37 + 0.05 * r)  # vary the phase vs. HAProxy's checks
                    for w in watchers:
                        w.seen_at = None
                        w.want = want
                    t0 = time.monotonic()
                    if on:
                        ec.put(KEY, 'mode=drain\nreason=etcd-flip benchmark\n')
                    else:
                        ec.delete(KEY)
                    pending = {(hp.name, a.name) for hp in hps for a in agents}
                    lb_done = None
                    deadline = t0 + 10
                    while (pending or any(w.seen_at is None for w in watchers)) and time.monotonic() < deadline:
                        for hp in hps:
                            rows = {row['svname']: row for row in hp.show_stat('nova-api')}
                            for a in agents:
                                if (hp.name, a.name) in pending and lb_ok(rows[a.name]['status']):
                                    pending.discard((hp.name, a.name))
                        if not pending and lb_done is None:
                            lb_done = time.monotonic()
                        time.sleep(0.005)
                    if pending or any(w.seen_at is None for w in watchers):
                        print('round %d: change not seen within 10 s (pending %s)' % (r, pending))
                        return 1
                    rep = (max(w.seen_at for w in watchers) - t0) * 1000
                    lbm = (lb_done - t0) * 1000
                    replies.append(rep)
                    lbs.append(lbm)
                    after.append(lbm - rep)
                    print('%-6d %-7s %9.1f %9.1f %13.1f' % (r + 1, 'drain' if on else 'delete', rep, lbm,
                                                           lbm - rep))
            for w in watchers:
                w.stop = True
            for hp in hps:
                hp.stop()
        finally:
            for a in agents:
                a.stop()
    print()
    print('%d writes of %s, 3 agents, 2 HAProxy (agent-check inter %d ms)' % (len(replies), KEY, INTER_MS))
    for label, v in (('write -> last agent reply', replies), ('write -> last HAProxy', lbs),
                     ('reply -> last HAProxy', after)):
        print('  %-26s median %7.1f ms  p90 %7.1f ms  max %7.1f ms' % (
            label, statistics.median(v), pct(v, 90), max(v)))
    print('goal: reply < 50 ms (max %.1f ms: %s); HAProxy < %d ms after the reply (max %.1f ms: %s)' % (
        max(replies), 'met' if max(replies) < 50 else 'NOT met', INTER_MS, max(after),
        'met' if max(after) < INTER_MS else 'NOT met'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
