#!/usr/bin/python3
"""The cluster-wide key /zdu/maintenance/all drains every agent; a node key wins over it.

Three agents n1, n2, n3 (own ports, control sockets and flag files) on one 3-member etcd:
  * put /zdu/maintenance/all -> all three reply 'up drain #maintenance: REASON' (the time
    until the last one does is measured, 3 rounds), status flag.etcd.source 'all';
    delete -> all three 'up ready 100%';
  * the node key wins over the all key: all + n2's key set -> n1, n3 show the cluster reason,
    n2 its own (source 'node'); all deleted -> n1, n3 ready, n2 still drained; n2's key
    deleted -> ready.
"""

import time

from agentlib import Agent, check, check_within, main
from etcdlib import (EtcdCluster, agent_etcd_settings, all_key, etcd_state, flag_value,
                     node_key, wait_etcd_state)
from testutil import tempdir, wait_until

READY = 'up ready 100%'
LIMIT_S = 2.0   # etcd write -> the last of three agents replies the change (a watch event)


def drain(reason):
    return 'up drain #maintenance: %s' % reason


def replies(agents):
    return {a.name: a.reply() for a in agents}


def replies_are(agents, want):
    """Every agent replies WANT[name] (or WANT) now."""
    return all(r == (want[n] if isinstance(want, dict) else want)
               for n, r in replies(agents).items())


def check_all(agents, want, what):
    """The check WHAT: within 10 s, every agent replies WANT[name] (or WANT)."""
    check_within(lambda: replies_are(agents, want), 10, what,
                 detail=lambda: 'replies %r, want %r' % (replies(agents), want), interval=0.005)


def wait_all(agents, want, what):
    """Poll every agent until each replies WANT[name] (or WANT); returns the seconds taken."""
    t0 = time.monotonic()
    wait_until(lambda: replies_are(agents, want), timeout=10, interval=0.005,
               message=lambda: '%s: replies %r, want %r' % (what, replies(agents), want))
    return time.monotonic() - t0


def run():
    work = tempdir('zdu-it-etcd-all-')
    with EtcdCluster(work) as ec:
        agents = []
        for i in (1, 2, 3):
            a = Agent(workdir='%s/n%d' % (work, i), name='n%d' % i,
                      settings=agent_etcd_settings(ec, node='n%d' % i))
            agents.append(a)
        for a in agents:
            a.start()
            wait_etcd_state(a, lambda s: s.get('reachable') is True, 'reachable', timeout=10)
        check(len({a.port for a in agents}) == 3, 'three agents on three ports',
              [a.port for a in agents])
        check_all(agents, READY, 'all three ready, connected to etcd')

        times = []
        for rnd in range(3):
            reason = 'cluster maintenance %d' % (rnd + 1)
            time.sleep(0.05)   # not an assertion: independent samples
            t0 = time.monotonic()
            ec.put(all_key(), flag_value(reason))
            wait_all(agents, drain(reason), 'all key set')
            dt = time.monotonic() - t0
            times.append(dt)
            print('timing: all key put -> all three agents drain after %.0f ms' % (dt * 1000),
                  flush=True)
            for a in agents:
                st = etcd_state(a)
                check(st.get('source') == 'all' and st.get('reason') == reason
                      and st.get('active') is True,
                      '%s: status flag.etcd source all' % a.name, st)
            t0 = time.monotonic()
            ec.delete(all_key())
            wait_all(agents, READY, 'all key deleted')
            dt = time.monotonic() - t0
            times.append(dt)
            print('timing: all key deleted -> all three agents ready after %.0f ms'
                  % (dt * 1000), flush=True)
        check(max(times) <= LIMIT_S, 'every change reached all three agents within %.1f s'
              % LIMIT_S, ['%.3f' % t for t in times])

        # ---------------------------------------------------------------- node key wins
        ec.put(all_key(), flag_value('cluster'))
        ec.put(node_key('n2'), flag_value('n2 only'))
        check_all(agents, {'n1': drain('cluster'), 'n2': drain('n2 only'), 'n3': drain('cluster')},
                  'all + n2 key: n2 shows its own reason, the others the cluster one')
        check(etcd_state(agents[1]).get('source') == 'node', 'n2: source node',
              etcd_state(agents[1]))
        check(etcd_state(agents[0]).get('source') == 'all', 'n1: source all',
              etcd_state(agents[0]))
        ec.delete(all_key())
        check_all(agents, {'n1': READY, 'n2': drain('n2 only'), 'n3': READY},
                  'all key deleted: n1, n3 ready, n2 still drained by its own key')
        ec.delete(node_key('n2'))
        check_all(agents, READY, 'n2 key deleted: all ready')
        for a in agents:
            rc = a.stop()
            check(rc == 0, '%s exits 0 on SIGTERM' % a.name, rc)


if __name__ == '__main__':
    main(run)
