#!/usr/bin/python3
"""etcd members going away never flip the agent's reply, and the agent misses no change.

A 3-member etcd cluster and two agents, each probed every 50 ms over TCP for the whole test
(every distinct reply is recorded, so a flip of even one probe would show):
  A (node n1) has the three endpoints; B (node n2) only the one A is connected to (E).
  1. Member E is stopped; at once n1's and n2's keys are set through the other two members.
     A fails over to another member and replies drain (it missed nothing); B, which can reach
     nothing, keeps replying ready and says reachable false; E started again -> B catches up
     (its watch resumes from the last revision it saw) and replies drain.
  2. Every member stopped: both replies unchanged for 3 s, status reachable false with a
     last_error; every member started -> reachable true again, replies unchanged.
  3. Every member stopped and agent A restarted: its first reply is already the drain
     (loaded from the cache file, status cached true, reachable false); etcd started ->
     reachable true, cached false, reply unchanged.
  4. Keys deleted -> ready. The replies each agent gave over the whole test are exactly
     ready, drain, ready.
"""

import os
import time

from agentlib import Agent, check, main
from etcdlib import (EtcdCluster, ReplyRecorder, agent_etcd_settings, etcd_state, flag_value,
                     node_key, wait_etcd_state, wait_reply_alive)
from testutil import tempdir

READY = 'up ready 100%'
DRAIN_A = 'up drain #maintenance: failover A'
DRAIN_B = 'up drain #maintenance: failover B'
QUIET_S = 3.0


def hold(recorders, seconds):
    """Let SECONDS pass while the recorders probe (not an assertion by itself: the recorded
    sequences are checked)."""
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        time.sleep(0.05)
    return [r.last() for r in recorders]


def run():
    work = tempdir('zdu-it-etcd-fo-')
    with EtcdCluster(work) as ec:
        a = Agent(workdir=os.path.join(work, 'a'), name='n1',
                  settings=agent_etcd_settings(ec, node='n1'))
        a.start()
        st, dt = wait_etcd_state(a, lambda s: s.get('reachable') is True and s.get('endpoint'),
                                 'reachable', timeout=10)
        e_url = st['endpoint']
        e = ec.member(e_url)
        print('agent A connected to %s (%s) after %.0f ms' % (e.name, e_url, dt * 1000))
        b = Agent(workdir=os.path.join(work, 'b'), name='n2',
                  settings=agent_etcd_settings(ec, node='n2', endpoints=[e.client_url]))
        b.start()
        wait_etcd_state(b, lambda s: s.get('reachable') is True, 'reachable', timeout=10)
        check(a.reply() == READY and b.reply() == READY, 'both ready, connected')
        rec_a = ReplyRecorder(a).start()
        rec_b = ReplyRecorder(b).start()
        try:
            # ------------------------------------------------ 1. A's member stops
            rc = ec.stop_member(e)
            t0 = time.monotonic()
            print('stopped %s (exit %s)' % (e.name, rc))
            rev_a = ec.put(node_key('n1'), flag_value('failover A'))
            rev_b = ec.put(node_key('n2'), flag_value('failover B'))
            print('keys put through the surviving members %.0f ms after the stop (revisions '
                  '%d, %d)' % ((time.monotonic() - t0) * 1000, rev_a, rev_b))
            _, dt = wait_reply_alive(a, DRAIN_A, timeout=15)
            print('timing: A replies the drain %.0f ms after its member stopped'
                  % ((time.monotonic() - t0) * 1000), flush=True)
            st = etcd_state(a)
            check(st.get('reachable') is True and st.get('endpoint') != e_url,
                  'A reconnected to another member (%s)' % st.get('endpoint'), st)
            # A watches its own keys: its revision is that of the last event it saw.
            check(int(st.get('revision') or 0) >= rev_a, 'A is at revision %s >= %d'
                  % (st.get('revision'), rev_a), st)
            sb, _ = wait_etcd_state(b, lambda s: s.get('reachable') is False,
                                    'B unreachable', timeout=10)
            check(bool(sb.get('last_error')), 'B: last_error says why (%r)'
                  % sb.get('last_error'), sb)
            hold([rec_b], 1.5)
            check(b.reply() == READY and rec_b.sequence() == [READY],
                  'B (its only member down) still replies ready', rec_b.sequence())

            ec.start_member(e)
            t1 = time.monotonic()
            ec.wait_healthy()
            wait_reply_alive(b, DRAIN_B, timeout=15)
            print('timing: B catches up %.0f ms after %s was started again'
                  % ((time.monotonic() - t1) * 1000, e.name), flush=True)
            sb = etcd_state(b)
            check(sb.get('reachable') is True and sb.get('source') == 'node',
                  'B reachable again, drained by its node key', sb)

            # ------------------------------------------------ 2. everything down
            ec.stop_all()
            t0 = time.monotonic()
            for ag in (a, b):
                s, dt = wait_etcd_state(ag, lambda s: s.get('reachable') is False,
                                        'unreachable', timeout=10)
                check(bool(s.get('last_error')), '%s: reachable false after %.0f ms, last_error '
                      '%r' % (ag.name, (time.monotonic() - t0) * 1000, s.get('last_error')), s)
            hold([rec_a, rec_b], QUIET_S)
            check(a.reply() == DRAIN_A and b.reply() == DRAIN_B,
                  'replies unchanged with etcd down for %.0f s' % QUIET_S,
                  (a.reply(), b.reply()))
            check(etcd_state(a).get('active') is True, 'A status: the etcd flag still active',
                  etcd_state(a))
            ec.start_all()
            t0 = time.monotonic()
            for ag in (a, b):
                _, dt = wait_etcd_state(ag, lambda s: s.get('reachable') is True,
                                        'reachable', timeout=15)
                print('%s reachable again %.0f ms after the cluster was healthy'
                      % (ag.name, (time.monotonic() - t0) * 1000))
            check(a.reply() == DRAIN_A and b.reply() == DRAIN_B,
                  'replies unchanged after etcd came back', (a.reply(), b.reply()))

            # ------------------------------------------------ 3. agent restart, etcd down
            cache = os.path.join(a.flag_dir, 'etcd.cache')
            check(os.path.exists(cache), 'A wrote its cache file (default %s)' % cache)
            ec.stop_all()
            wait_etcd_state(a, lambda s: s.get('reachable') is False, 'unreachable', timeout=10)
            rc = a.stop()
            check(rc == 0, 'A exits 0 on SIGTERM', rc)
            first = a.first_reply_after_start()
            check(first == DRAIN_A, 'restarted with etcd down: the first reply is the drain',
                  first)
            st = etcd_state(a)
            check(st.get('cached') is True and st.get('reachable') is False
                  and st.get('active') is True and st.get('reason') == 'failover A',
                  'status: cached true, reachable false, the cached drain', st)
            hold([rec_a], 1.0)
            ec.start_all()
            st, dt = wait_etcd_state(a, lambda s: s.get('reachable') is True
                                     and s.get('cached') is False, 'reachable, not cached',
                                     timeout=15)
            print('A confirmed by etcd %.0f ms after the cluster was healthy' % (dt * 1000))
            check(a.reply() == DRAIN_A, 'reply unchanged once etcd confirmed it', a.reply())

            # ------------------------------------------------ 4. back to ready
            ec.delete(node_key('n1'))
            ec.delete(node_key('n2'))
            wait_reply_alive(a, READY, timeout=10)
            wait_reply_alive(b, READY, timeout=10)
            hold([rec_a, rec_b], 0.2)
        finally:
            rec_a.stop()
            rec_b.stop()
        print('A: %d probes answered, %d failed (its restart); B: %d answered, %d failed'
              % (rec_a.probes, len(rec_a.errors), rec_b.probes, len(rec_b.errors)))
        check(rec_a.sequence() == [READY, DRAIN_A, READY],
              'A replied exactly ready, drain, ready over the whole test', rec_a.sequence())
        check(rec_b.sequence() == [READY, DRAIN_B, READY],
              'B replied exactly ready, drain, ready over the whole test', rec_b.sequence())
        check(not rec_b.errors, 'every probe of B answered', rec_b.errors[:3])
        for ag in (a, b):
            rc = ag.stop()
            check(rc == 0, '%s exits 0 on SIGTERM' % ag.name, rc)


if __name__ == '__main__':
    main(run)
