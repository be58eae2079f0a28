#!/usr/bin/python3
"""etcd-flip.py BUILD_DIR [ROUNDS]: how fast a write of the cluster-wide etcd key reaches the
agents' replies and HAProxy.

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
threshold decides an exit status; it exits 1 only when a change is not seen in 10 s."""
import os
import statistics
import sys
import threading
import time

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


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    os.environ.setdefault('ZDU_BUILD_DIR', sys.argv[1])
    os.environ.setdefault('ZDU_AGENT', os.path.join(sys.argv[1], 'agent', 'zdu-agent'))
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
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
