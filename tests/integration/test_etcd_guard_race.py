#!/usr/bin/python3
"""The fleet guard's claim (issue 15, part 2): two nodes deciding at the same moment never both go
down on the strength of each other's stale "up".

Two agents n1, n2 (the whole service: two nodes; guard.min_up_percent 50, the default, lets one of
two go, 1 of 2 = 50 %, and never the second), both using one etcd member only, a follower of a
real 3-member cluster (127.0.0.21-23). Both nova-api slow at once; once both are in the last third
of dead_after (3 s), that member is frozen (SIGSTOP): both agents reach dead_after and ask the
guard, and both reads wait at the frozen member. Then it is thawed (SIGCONT): both reads are
answered together, at a time when both nodes are up, so both would go down. With the claim, the
first txn on the claim key wins, the second fails (the key changed since its read): that agent
reads again, counts the winner as going down, and stays up.

  * exactly one down ('down ready 100% #nova-api: slow for 3.x s'), the other
    'up ready 10% #kept up: 1 of 2 nodes already down; ...', and so for 2 s more;
  * the winner's status: 1 claim; the loser's: at least 1 claim lost, none won, its peer
    'going down' or 'down'; the claim key lists the winner;
  * the loser's log says it was kept up.

Against the agent before the guard (i-slow) both go down at dead_after. (A guard without the
claim would too: both reads say "1 of 2 stay up".)
"""

import json
import os
import re
import signal
import time

from agentlib import Agent, check, main
from etcdlib import EtcdCluster, agent_etcd_settings
from probelib import HEALTHY_REPLY, NovaProc, op_token, probe_settings, stop_clean
from testutil import tempdir, wait_until

INTERVAL, TIMEOUT, CONNECT, RISE, FALL = 400, 300, 300, 2, 2
DEAD_MS = 3000
SLOW_DELAY_MS = 700
NODES = ('n1', 'n2')
KEPT_RE = re.compile(r'^up ready 10% #kept up: 1 of 2 nodes already down; nova-api: slow: '
                     r'(\d+ ms|\d+\.\d s); nova-api 2\.93$')
ASKING = re.compile(r'notice: probe: nova-api slow for \d+\.\d s, probe\.dead_after_ms \(3\.0 s\) '
                    r'reached: asking the fleet guard')


def replies(agents):
    return {n: a.reply() for n, a in agents.items()}


def run():
    wd = tempdir('zdu-it-guard-race-')
    novas, agents = {}, {}
    with EtcdCluster(wd) as ec:
        leader = wait_until(ec.leader, timeout=10, message='an etcd leader')
        follower = ec.member(1 if leader != 1 else 2)
        print('etcd leader m%d; the agents use only %s (a follower)' % (leader, follower.client_url))
        try:
            for n in NODES:
                novas[n] = NovaProc(wd, name='nova-' + n)
                st = probe_settings(novas[n].url, interval_ms=INTERVAL, timeout_ms=TIMEOUT,
                                    connect_timeout_ms=CONNECT, rise=RISE, fall=FALL,
                                    dead_after_ms=DEAD_MS)
                # One member, and time enough to wait for it while it is frozen.
                st.update(agent_etcd_settings(ec, node=n, lease_ttl_s=5, timeout_ms=8000,
                                              publish_interval_ms=200,
                                              endpoints=[follower.client_url]))
                adir = os.path.join(wd, n)
                os.makedirs(adir)
                agents[n] = Agent(workdir=adir, settings=st, name='agent-' + n)
                agents[n].start()
            wait_until(lambda: all(r == HEALTHY_REPLY for r in replies(agents).values()), timeout=20,
                       message='both healthy')
            wait_until(lambda: all(ec.get('/zdu/agents/' + n) for n in NODES), timeout=10,
                       message='both published')
            race(ec, follower, novas, agents)
            for a in agents.values():
                stop_clean(a)
        finally:
            if follower.proc is not None and follower.running():
                try:
                    os.kill(follower.proc.pid, signal.SIGCONT)
                except OSError:
                    pass
            for a in agents.values():
                a.stop()
            for nv in novas.values():
                nv.stop()


def race(ec, follower, novas, agents):
    logs0 = {n: a.log_size() for n, a in agents.items()}
    for n in NODES:
        novas[n].set_mode('slow', delay_ms=SLOW_DELAY_MS)
    t0 = time.monotonic()
    wait_until(lambda: all(r.startswith('up ready 10% #nova-api: slow: ') for r in replies(agents).values()),
               timeout=DEAD_MS / 1000.0 + 5, message='both in the last third of dead_after')
    os.kill(follower.proc.pid, signal.SIGSTOP)
    t_stop = time.monotonic()
    try:
        # (an agent without the guard goes down instead of asking)
        wait_until(lambda: all(ASKING.search(agents[n].log_text()[logs0[n]:]) or op_token(agents[n].reply())
                               == 'down' for n in NODES), timeout=6,
                   message='both agents asking the guard while the member is frozen')
        check(all(op_token(r) == 'up' for r in replies(agents).values()),
              'both past dead_after, both still up while their guards wait for etcd', replies(agents))
        s = {n: agents[n].status()['guard'] for n in NODES}
        check(all(g['checking'] for g in s.values()), 'both guards have a check in flight',
              {n: (g['checking'], g['checks']) for n, g in s.items()})
    finally:
        os.kill(follower.proc.pid, signal.SIGCONT)
    print('timing: slow at t0; frozen at +%.1fs for %.1fs, both asking meanwhile'
          % (t_stop - t0, time.monotonic() - t_stop), flush=True)

    def settled():
        r = replies(agents)
        return r if any(op_token(v) == 'down' for v in r.values()) and all(
            op_token(v) == 'down' or KEPT_RE.match(v) for v in r.values()) else None
    r = wait_until(settled, timeout=15, message=lambda: 'one down, one kept up (%r)' % replies(agents))
    print('timing: settled %.1fs after the thaw: %r' % (time.monotonic() - t_stop, r), flush=True)
    downs = [n for n in NODES if op_token(r[n]) == 'down']
    check(len(downs) == 1, 'exactly one of the two went down: the backend keeps a node', r)
    gone = downs[0]
    kept = 'n2' if gone == 'n1' else 'n1'
    check(re.match(r'^down ready 100% #nova-api: slow for \d+\.\d s$', r[gone]),
          '%s: down for slowness' % gone, r[gone])
    t = time.monotonic()
    seen = set()
    while time.monotonic() - t < 2.0:
        rr = replies(agents)
        seen.add((bool(KEPT_RE.match(rr[kept])), op_token(rr[gone])))
        time.sleep(0.1)
    check(seen == {(True, 'down')}, 'for 2 s more: %s kept up, %s down' % (kept, gone), seen)
    sg, sk = agents[gone].status(), agents[kept].status()
    print('guard of %s: %s' % (gone, json.dumps(sg['guard'])), flush=True)
    print('guard of %s: %s' % (kept, json.dumps(sk['guard'])), flush=True)
    check(sg['guard']['claims'] == 1, '%s claimed its way down' % gone, sg['guard'])
    check(sk['guard']['claims'] == 0 and sk['guard']['claims_lost'] >= 1,
          '%s lost the race for the claim (%d lost) and claimed nothing'
          % (kept, sk['guard']['claims_lost']), sk['guard'])
    peer = sk['guard']['peers'][0]
    check(peer['node'] == gone and peer['state'] in ('going down', 'down'),
          '%s counts %s as gone' % (kept, gone), sk['guard']['peers'])
    claim = json.loads(ec.get('/zdu/guard/nova-api').decode())
    check(claim == {'down': [gone]}, 'the claim key lists %s' % gone, claim)
    log = agents[kept].log_text()[logs0[kept]:]
    check(re.search(r'notice: guard: kept up: 1 of 2 nodes already down: going down would leave 0 of 2 '
                    r'nodes up', log), '%s logged why it stays up' % kept, log[-2000:])
    for n in NODES:
        novas[n].set_mode('healthy')
    wait_until(lambda: all(v == HEALTHY_REPLY for v in replies(agents).values()), timeout=20,
               message='both healthy again')


if __name__ == '__main__':
    main(run)
