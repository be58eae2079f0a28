#!/usr/bin/python3
"""The agent's watch resumes from a revision etcd has compacted away: it reads the keys again.

The agent (node n1) is given only m1's endpoint, so that it is certainly disconnected while
the cluster goes on without it (with all three endpoints it could reconnect to m2 before the
compaction and the compacted path would not be exercised):
  * m1 stopped (the agent says reachable false and keeps replying ready);
  * through m2/m3: n1's key set (value A), another key written 5 times, the store compacted
    at its latest revision (physical), so the agent's last revision is history;
  * m1 started again: the agent's watch from its old revision is refused as compacted; it must
    read the keys again and reply A's drain (time measured), status reachable true at a
    revision >= the compaction;
  * the watch after that works: delete -> ready, put B -> drain B, delete -> ready;
  * the agent's reply, probed every 50 ms all along, was exactly ready, A, ready, B, ready.
"""

import time

from agentlib import Agent, check, check_within, main
from etcdlib import (EtcdCluster, EtcdError, ReplyRecorder, agent_etcd_settings, b64,
                     etcd_state, flag_value, node_key, wait_etcd_state, wait_reply_alive)
from testutil import tempdir, wait_until

READY = 'up ready 100%'
NODE = 'n1'
KEY = node_key(NODE)
DRAIN_A = 'up drain #maintenance: value A'
DRAIN_B = 'up drain #maintenance: value B'


def seen_by(rec, want):
    """The recorder samples every 50 ms: let it see this state before the next change."""
    wait_until(lambda: rec.last() == want, timeout=2, interval=0.01,
               message='the recorder sees %r' % want)


def run():
    work = tempdir('zdu-it-etcd-compact-')
    with EtcdCluster(work) as ec:
        m1 = ec.member(1)
        agent = Agent(workdir=work, settings=agent_etcd_settings(
            ec, node=NODE, endpoints=[m1.client_url]))
        agent.start()
        st, _ = wait_etcd_state(agent, lambda s: s.get('reachable') is True, 'reachable',
                                timeout=10)
        old_rev = int(st.get('revision') or 0)
        check(old_rev > 0, 'the agent is at revision %d' % old_rev, st)
        check(agent.reply() == READY, 'ready', agent.reply())
        rec = ReplyRecorder(agent).start()
        try:
            ec.stop_member(1)
            check_within(lambda: etcd_state(agent).get('reachable') is False, 10,
                         'm1 stopped: the agent is disconnected', detail=lambda: etcd_state(agent))

            rev_a = ec.put(KEY, flag_value('value A'))
            for i in range(5):
                ec.put('/zdu/other', 'filler %d' % i)
            crev = ec.compact(endpoint=2)
            print('key A at revision %d, compacted at %d (the agent was at %d)'
                  % (rev_a, crev, old_rev))
            check(crev > old_rev + 1, 'the compaction covers the agent\'s next revision')
            try:
                ec.call('/v3/kv/range', {'key': b64(KEY), 'revision': str(old_rev + 1)},
                        endpoint=2)
                raise AssertionError('revision %d still readable after the compaction'
                                     % (old_rev + 1))
            except EtcdError as e:
                check('compacted' in str(e), 'revision %d is compacted' % (old_rev + 1), str(e))
            check(agent.reply() == READY, 'still ready while disconnected', agent.reply())

            ec.start_member(1)
            t0 = time.monotonic()
            ec.wait_healthy()
            wait_reply_alive(agent, DRAIN_A, timeout=15)
            print('timing: the agent replies A %.0f ms after m1 was started again'
                  % ((time.monotonic() - t0) * 1000), flush=True)
            seen_by(rec, DRAIN_A)
            st, _ = wait_etcd_state(agent, lambda s: s.get('reachable') is True, 'reachable',
                                    timeout=10)
            check(int(st.get('revision') or 0) >= crev and st.get('source') == 'node'
                  and st.get('reason') == 'value A' and not st.get('cached'),
                  'status: reachable at revision %s >= %d, the node key' % (st.get('revision'),
                                                                            crev), st)

            for action, want in ((lambda: ec.delete(KEY), READY),
                                 (lambda: ec.put(KEY, flag_value('value B')), DRAIN_B),
                                 (lambda: ec.delete(KEY), READY)):
                t0 = time.monotonic()
                action()
                wait_reply_alive(agent, want, timeout=5)
                print('timing: %r %.0f ms after the write' % (want, (time.monotonic() - t0)
                                                              * 1000))
                seen_by(rec, want)
            check(rec.sequence()[-3:] == [READY, DRAIN_B, READY],
                  'the watch works after the compaction: delete, put B, delete all seen',
                  rec.sequence())
        finally:
            rec.stop()
        check(rec.sequence() == [READY, DRAIN_A, READY, DRAIN_B, READY],
              'replies over the test: ready, A, ready, B, ready (%d probes)' % rec.probes,
              rec.sequence())
        rc = agent.stop()
        check(rc == 0, 'agent exits 0 on SIGTERM', rc)


if __name__ == '__main__':
    main(run)
