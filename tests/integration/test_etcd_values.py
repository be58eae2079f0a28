#!/usr/bin/python3
"""An etcd flag value the agent cannot understand drains the node (fail safe) and says why.

For each of: garbage bytes (a NUL and a 0xff byte), 5000 bytes of valid-looking text (over
the flag file's 4096-byte limit), an unknown mode (mode=bogus), and an unknown mode under the
cluster-wide key:
  * the reply becomes a drain with a reason ('up drain #maintenance...');
  * status flag.etcd is active, mode drain, and its error names the key and says why;
  * every probe meanwhile is answered quickly (a bad value never blocks the loop);
  * deleting the key brings back 'up ready 100%' (status error null).
Then a valid value -> the normal 'up drain #maintenance: REASON' with no error; delete -> up.
"""

import statistics

from agentlib import Agent, check, main
from etcdlib import (EtcdCluster, agent_etcd_settings, all_key, etcd_state, flag_value,
                     node_key, wait_etcd_state)
from testutil import tempdir

READY = 'up ready 100%'
NODE = 'n1'
FAST_S = 0.05
SLOW_S = 1.0


def probe_fast(agent, what):
    times = []
    for _ in range(20):
        _, dt = agent.probe(timeout=2)
        times.append(dt)
    med, worst = statistics.median(times), max(times)
    check(med < FAST_S and worst < SLOW_S, '%s: 20 probes answered, median %.1f ms, max %.1f ms'
          % (what, med * 1000, worst * 1000), (med, worst))


def run():
    work = tempdir('zdu-it-etcd-val-')
    oversized = b'mode=drain\nreason=' + b'x' * 4981 + b'\n'
    assert len(oversized) == 5000
    # (name, key, value, words the error must contain, case-insensitive: any of each tuple)
    cases = [
        ('garbage bytes', node_key(NODE), b'\x00\xff garbage', [('nul', 'utf', 'binary')]),
        ('5000 bytes', node_key(NODE), oversized, [('4096', 'too big', 'too large')]),
        ('wrong mode', node_key(NODE), b'mode=bogus\n', [('bogus',), ('mode',)]),
        ('wrong mode, all key', all_key(), b'mode=bogus\nreason=x\n', [('bogus',), ('mode',)]),
    ]
    with EtcdCluster(work) as ec:
        with Agent(workdir=work, settings=agent_etcd_settings(ec, node=NODE)) as agent:
            wait_etcd_state(agent, lambda s: s.get('reachable') is True, 'reachable',
                            timeout=10)
            check(agent.reply() == READY, 'ready at first', agent.reply())
            for name, key, value, words in cases:
                ec.put(key, value)
                reply, dt = agent.wait_reply(lambda r: r.startswith('up drain #maintenance'),
                                             timeout=5)
                print('%s: reply %r after %.1f ms' % (name, reply, dt * 1000), flush=True)
                check(len(reply) > len('up drain #maintenance'),
                      '%s: the drain reply carries a reason' % name, reply)
                st = etcd_state(agent)
                err = st.get('error') or ''
                print('%s: status flag.etcd.error %r' % (name, err))
                check(st.get('active') is True and st.get('mode') == 'drain',
                      '%s: status flag.etcd active, mode drain' % name, st)
                check(key in err, '%s: the error names the key %s' % (name, key), err)
                for alts in words:
                    check(any(w in err.lower() for w in alts),
                          '%s: the error says why (%s)' % (name, ' or '.join(alts)), err)
                check(agent.status()['flag'].get('error'), '%s: the effective flag has the '
                      'error too' % name, agent.status()['flag'])
                probe_fast(agent, name)
                ec.delete(key)
                agent.wait_reply(READY, timeout=5)
                st = etcd_state(agent)
                check(st.get('active') is False and st.get('error') is None,
                      '%s: key deleted: ready, no error' % name, st)

            ec.put(node_key(NODE), flag_value('a valid value'))
            agent.wait_reply('up drain #maintenance: a valid value', timeout=5)
            st = etcd_state(agent)
            check(st.get('error') is None and st.get('reason') == 'a valid value'
                  and st.get('source') == 'node', 'a valid value: drain, no error', st)
            ec.delete(node_key(NODE))
            agent.wait_reply(READY, timeout=5)
            rc = agent.stop()
            check(rc == 0, 'agent exits 0 on SIGTERM', rc)


if __name__ == '__main__':
    main(run)
