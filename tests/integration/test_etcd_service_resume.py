#!/usr/bin/python3
"""Service keys across an etcd outage (issue 17): the node's one range watch resumes from its
revision, and after a compaction reads the services' keys again, as it does for the node key.

A three-member etcd of the test's own on 127.0.0.113-115; the agent (node n1, services nova-api,
placement, glance, probes off) on 127.0.0.116 is given only m1's endpoint, so that stopping m1
certainly disconnects it while the cluster goes on:
  * compaction: m1 stopped; through m2, n1/placement set (A), another node's n1-b/placement and
    a filler key written, the store compacted past the agent's revision; m1 started again: the
    agent shows placement A (read again: its old revision is gone), n1-b's key not taken;
  * resume: m1 stopped again; through m2, n1/glance set (B) and n1/placement deleted; m1 started:
    the agent shows glance B and placement absent (the watch resumed from its revision, no
    second compaction);
  * the node's reply stayed 'up ready 100%' all along (service flags do not drain the node).
"""

import time

from agentlib import Agent, check, check_within, main
from etcdlib import (EtcdCluster, ReplyRecorder, agent_etcd_settings, etcd_state, flag_value,
                     node_key, wait_etcd_state)
from testutil import tempdir

ETCD_ADDRS = ['127.0.0.113', '127.0.0.114', '127.0.0.115']
AGENT_ADDR = '127.0.0.116'
NODE = 'n1'
READY = 'up ready 100%'
SERVICES = ('nova-api', 'placement', 'glance')


def services_text():
    return 'services = (\n%s\n);\n' % ',\n'.join(
        '  { name = "%s"; probe_enabled = false; url = "http://127.0.0.116:%d/"; }' % (n, 8774 + i)
        for i, n in enumerate(SERVICES))


def skey(service, node=NODE):
    return node_key(node) + '/' + service


def svc(agent, name):
    return (etcd_state(agent).get('services') or {}).get(name) or {}


def disconnect(ec, agent):
    ec.stop_member(1)
    check_within(lambda: etcd_state(agent).get('reachable') is False, 10,
                 'm1 stopped: the agent is disconnected', detail=lambda: etcd_state(agent))


def reconnect(ec, agent, pred, what):
    t0 = time.monotonic()
    ec.start_member(1)
    ec.wait_healthy()
    st, _ = wait_etcd_state(agent, lambda s: s.get('reachable') is True and pred(s), what, timeout=15)
    print('ok: %s, %.0f ms after m1 was started again' % (what, (time.monotonic() - t0) * 1000),
          flush=True)
    return st


def run():
    work = tempdir('zdu-it-etcd-svc-resume-')
    with EtcdCluster(work, addrs=ETCD_ADDRS) as ec:
        m1 = ec.member(1)
        agent = Agent(workdir=work, addr=AGENT_ADDR, name=NODE, extra_text=services_text(),
                      settings=agent_etcd_settings(ec, node=NODE, endpoints=[m1.client_url]))
        agent.start()
        st, _ = wait_etcd_state(agent, lambda s: s.get('reachable') is True, 'reachable', timeout=10)
        old_rev = int(st['revision'])
        rec = ReplyRecorder(agent).start()
        try:
            # ---- compaction: the services' keys are read again
            disconnect(ec, agent)
            rev_a = ec.put(skey('placement'), flag_value('value A', mode='maint'), endpoint=2)
            ec.put(skey('placement', 'n1-b'), flag_value('not n1'), endpoint=2)
            for i in range(3):
                ec.put('/zdu/other', 'filler %d' % i, endpoint=2)
            crev = ec.compact(endpoint=2)
            check(crev > old_rev + 1, 'compacted at %d, past the agent\'s revision %d (A at %d)'
                  % (crev, old_rev, rev_a))
            log0 = agent.log_size()
            st = reconnect(ec, agent, lambda s: s['services']['placement']['present'],
                           'placement A seen after the compaction')
            p = st['services']['placement']
            check(p['mode'] == 'maint' and p['reason'] == 'value A' and p['revision'] >= crev,
                  'placement: maint A at a revision >= %d' % crev, p)
            check(st['keys']['node']['present'] is False and st['unknown_services'] == [],
                  'n1-b\'s key is not n1\'s, nor an unknown service', st)
            print('log after the restart: %s' % ('compacted' in agent.log_text()[log0:] and
                                                 'the watch was refused as compacted: read again'
                                                 or 'the keys were read again'), flush=True)

            # ---- resume: the watch picks up where it was
            rev0 = int(etcd_state(agent)['revision'])
            disconnect(ec, agent)
            ec.put(skey('glance'), flag_value('value B'), endpoint=2)
            check(ec.delete(skey('placement'), endpoint=2) == 1, 'placement deleted through m2')
            rev_b = ec.revision(endpoint=2)
            log1 = agent.log_size()
            st = reconnect(ec, agent, lambda s: s['services']['glance']['present']
                           and not s['services']['placement']['present'],
                           'glance B and placement deleted, both seen')
            check(st['services']['glance']['reason'] == 'value B', 'glance: value B', st['services']['glance'])
            check(st['services']['nova-api']['present'] is False, 'nova-api untouched', st['services'])
            check('compacted' not in agent.log_text()[log1:],
                  'resumed from revision %d (no compaction this time)' % rev0)
            check(rev_b > rev0, 'the delete (revision %d) came while the agent was away' % rev_b)
        finally:
            rec.stop()
        check(rec.sequence() == [READY], 'the node\'s reply stayed %s (%d probes)' % (READY, rec.probes),
              rec.sequence())
        check(agent.stop() == 0, 'agent exits 0 on SIGTERM')


if __name__ == '__main__':
    main(run)
