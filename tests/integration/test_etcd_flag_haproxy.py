#!/usr/bin/python3
"""A maintenance flag in etcd reaches a real HAProxy 2.6 through the agent.

A 3-member etcd cluster (tests/lib/etcdlib.py, 127.0.0.21-23), zdu-agent on 127.0.0.11 with
etcd configured (node n1, prefix /zdu), an HttpStub as the server and HAProxy with
`check agent-check agent-inter 500ms`:
  * put /zdu/maintenance/nodes/n1 -> the agent replies 'up drain #maintenance: REASON' and
    HAProxy shows 'DRAIN (agent)' within two agent intervals of the put (measured, 3 times),
    last_agt carries the reason; delete the key -> UP, weight 100 (same limit);
  * the local flag file wins over etcd: with both set the reply has the file's reason; etcd's
    key deleted -> still the file's drain (status flag.etcd inactive, HAProxy still DRAIN);
    etcd key set again and the local file removed -> etcd's reason is shown;
  * status: flag.etcd.source is 'node' while the node key is set, reachable true.
"""

import random
import time

from agentlib import Agent, check, check_within, main
from etcdlib import (EtcdCluster, agent_etcd_settings, etcd_state, flag_value, node_key,
                     wait_etcd_state)
from haproxy import HAProxy
from testutil import HttpStub, tempdir

INTER_MS = 500
ADDR = '127.0.0.11'
NODE = 'n1'
KEY = node_key(NODE)
READY = 'up ready 100%'
# Two agent intervals, plus slack for a loaded 2-core machine (as test_haproxy_drain.py).
LIMIT_S = 2 * INTER_MS / 1000.0 + 0.5


def drain(reason):
    return 'up drain #maintenance: %s' % reason


def timed(lb, agent, action, want_reply, want_status, what):
    # Not an assertion: a random phase against HAProxy's probe timer.
    time.sleep(random.uniform(0, INTER_MS / 1000.0))
    t0 = time.monotonic()
    action()
    agent.wait_reply(want_reply, timeout=5, interval=0.005)
    t_agent = time.monotonic() - t0
    row = lb.wait_server('node1', want_status, timeout=10, interval=0.01)
    dt = time.monotonic() - t0
    print('timing: %s: agent replies %.0f ms, HAProxy shows %r %.0f ms after the etcd write '
          '(limit %.0f ms)' % (what, t_agent * 1000, row['status'], dt * 1000, LIMIT_S * 1000),
          flush=True)
    check(dt <= LIMIT_S, '%s within two agent intervals (+slack)' % what, '%.3fs' % dt)
    return row


def run():
    work = tempdir('zdu-it-etcd-ha-')
    nova = HttpStub(ADDR)
    with EtcdCluster(work) as ec:
        settings = agent_etcd_settings(ec, node=NODE)
        with Agent(workdir=work, addr=ADDR, settings=settings) as agent:
            st, dt = wait_etcd_state(agent, lambda s: s.get('reachable') is True,
                                     'reachable', timeout=10)
            print('agent connected to etcd (%s) %.0f ms after start-up'
                  % (st.get('endpoint'), dt * 1000))
            check(st.get('active') is False and st.get('source') is None,
                  'no etcd flag at first', st)
            check(agent.reply() == READY, 'ready before any flag', agent.reply())
            servers = [dict(name='node1', addr=ADDR, port=nova.port, agent_port=agent.port,
                            weight=100)]
            with HAProxy(work, servers=servers, agent_inter_ms=INTER_MS) as lb:
                row = lb.wait_server('node1', {'status': 'UP', 'agent_status': 'L7OK'},
                                     timeout=15)
                check(row['weight'] == '100', 'UP with weight 100', row['weight'])

                # ------------------------------------------------ node key on / off
                for i in range(3):
                    reason = 'etcd upgrade %d' % (i + 1)
                    row = timed(lb, agent, lambda: ec.put(KEY, flag_value(reason)),
                                drain(reason), 'DRAIN (agent)', 'etcd put #%d' % (i + 1))
                    check('maintenance: %s' % reason in row['last_agt'],
                          'last_agt shows the etcd reason', row['last_agt'])
                    st = etcd_state(agent)
                    check(st.get('active') is True and st.get('mode') == 'drain'
                          and st.get('source') == 'node' and st.get('reason') == reason,
                          'status flag.etcd: active drain from the node key', st)
                    full = agent.status()
                    check(full['flag']['file']['active'] is False,
                          'status flag.file inactive', full['flag']['file'])
                    check(full['flag']['active'] is True and full['flag']['reason'] == reason,
                          'status flag (effective) is the etcd one', full['flag'])
                    timed(lb, agent, lambda: ec.delete(KEY), READY, 'UP',
                          'etcd delete #%d' % (i + 1))
                    check_within(lambda: lb.server_is('node1', {'status': 'UP', 'weight': '100'}),
                                 5, 'UP again with weight 100', detail=lambda: lb.describe('node1'))

                # ------------------------------------------------ local file wins
                ec.put(KEY, flag_value('etcd reason'))
                agent.wait_reply(drain('etcd reason'))
                agent.write_flag('mode=drain\nreason=local reason\n')
                agent.wait_reply(drain('local reason'))
                check_within(lambda: lb.server_is('node1', lambda r: r['status'] == 'DRAIN (agent)'
                                                  and 'local reason' in r['last_agt']), 5,
                             'local file and etcd key set: the local reason wins (agent, HAProxy)',
                             detail=lambda: lb.describe('node1'))
                full = agent.status()
                check(full['flag']['file']['active'] is True
                      and full['flag']['etcd']['active'] is True,
                      'status shows both sources active', full['flag'])

                ec.delete(KEY)
                wait_etcd_state(agent, lambda s: s.get('active') is False,
                                'inactive after the delete', timeout=5)
                check(agent.reply() == drain('local reason'),
                      'etcd key deleted, local file present: still the local drain',
                      agent.reply())
                # Two more agent intervals: HAProxy still drains the node.
                time.sleep(2 * INTER_MS / 1000.0)
                row = lb.server('node1')
                check(row['status'] == 'DRAIN (agent)' and 'local reason' in row['last_agt'],
                      'HAProxy still DRAIN with the local reason', (row['status'],
                                                                   row['last_agt']))

                ec.put(KEY, flag_value('etcd again'))
                wait_etcd_state(agent, lambda s: s.get('reason') == 'etcd again',
                                'the new etcd reason', timeout=5)
                check(agent.reply() == drain('local reason'),
                      'both set again: still the local reason', agent.reply())
                t0 = time.monotonic()
                agent.remove_flag()
                agent.wait_reply(drain('etcd again'), timeout=5)
                check_within(lambda: lb.server_is('node1', lambda r: r['status'] == 'DRAIN (agent)'
                                                  and 'etcd again' in r['last_agt']), 5,
                             'local file removed: the etcd reason is shown (agent, HAProxy)',
                             detail=lambda: lb.describe('node1'))
                print('timing: local file removed -> HAProxy shows the etcd reason after %.0f ms'
                      % ((time.monotonic() - t0) * 1000))

                ec.delete(KEY)
                agent.wait_reply(READY, timeout=5)
                check_within(lambda: lb.server_is('node1', {'status': 'UP', 'weight': '100'}), 5,
                             'both cleared: UP, weight 100', detail=lambda: lb.describe('node1'))
            rc = agent.stop()
            check(rc == 0, 'agent exits 0 on SIGTERM', rc)
    nova.close()


if __name__ == '__main__':
    main(run)
