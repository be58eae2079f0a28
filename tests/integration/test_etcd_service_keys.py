#!/usr/bin/python3
"""Service flags in etcd (issue 17): one agent with three services watches its node key and its
services' keys PREFIX/maintenance/nodes/NODE/SERVICE with ONE range watch, plus the cluster key's.

One etcd member of the test's own on 127.0.0.111 (2379/2380), the agent on 127.0.0.112 with
services nova-api, placement and glance (probes off). Shown:
  * etcd counts exactly 2 watch streams and 2 watchers (its /metrics), with 3 services, and
    still 2 after every write below;
  * a write of NODE/placement reaches the agent's status (flag.etcd.services.placement: present,
    mode, value, revision at least the write's), the node's own flag staying off;
  * keys of other nodes that sort inside the range (NODE-x, NODE.x, NODE-x/placement) change
    nothing and are not reported as unknown services; NODE/heat (a service the agent does not
    have) is ignored, listed in unknown_services, counted, and logged once;
  * an unreadable service value (bytes, a bad mode, 5000 bytes) means drain for that service,
    the error naming the key; deleting it clears it;
  * --maintenance on/off --service placement (through the daemon) writes and confirms the key;
    --service nope is refused;
  * the cache covers the service keys: the agent restarted with etcd down still holds them;
    and a cache in the older format (no service lines) still loads.
"""

import os
import re
import time
import urllib.request

from agentlib import Agent, check, check_within, cli_expect, main
from etcdlib import EtcdCluster, agent_etcd_settings, etcd_state, flag_value, node_key, wait_etcd_state
from testutil import tempdir

ETCD_ADDR = '127.0.0.111'
AGENT_ADDR = '127.0.0.112'
NODE = 'n1'
READY = 'up ready 100%'
SERVICES = ('nova-api', 'placement', 'glance')


def services_text():
    items = []
    for i, name in enumerate(SERVICES):
        items.append('  { name = "%s"; probe_enabled = false; url = "http://127.0.0.112:%d/"; }'
                     % (name, 8774 + i))
    return 'services = (\n%s\n);\n' % ',\n'.join(items)


def skey(service):
    return node_key(NODE) + '/' + service


def metrics(ec):
    with urllib.request.urlopen(ec.endpoints[0] + '/metrics', timeout=5) as r:
        text = r.read().decode()
    out = {}
    for name in ('etcd_debugging_mvcc_watch_stream_total', 'etcd_debugging_mvcc_watcher_total'):
        m = re.search(r'^%s (\S+)$' % name, text, re.M)
        out[name] = float(m.group(1)) if m else None
    return out


def check_streams(ec, what):
    m = metrics(ec)
    print('%s: etcd metrics %s' % (what, m), flush=True)
    check(m['etcd_debugging_mvcc_watch_stream_total'] == 2,
          '%s: etcd has exactly 2 watch streams (3 services)' % what, m)
    check(m['etcd_debugging_mvcc_watcher_total'] == 2,
          '%s: etcd has exactly 2 watchers' % what, m)


def svc(agent, name):
    return (etcd_state(agent).get('services') or {}).get(name)


def wait_svc(agent, name, pred, what, timeout=5):
    st, dt = wait_etcd_state(agent, lambda s: (s.get('services') or {}).get(name) is not None
                             and pred(s['services'][name]), what, timeout=timeout)
    print('ok: %s (after %.0f ms): %s' % (what, dt * 1000, st['services'][name]), flush=True)
    return st['services'][name]


def run():
    work = tempdir('zdu-it-etcd-svc-')
    t_start = time.monotonic()
    with EtcdCluster(work, n=1, addrs=[ETCD_ADDR]) as ec:
        settings = agent_etcd_settings(ec, node=NODE, watch_check_ms=300)
        agent = Agent(workdir=work, addr=AGENT_ADDR, name=NODE, settings=settings,
                      extra_text=services_text())
        agent.start()
        wait_etcd_state(agent, lambda s: s.get('reachable') is True, 'reachable', timeout=10)
        st = etcd_state(agent)
        check(sorted((st.get('services') or {}).keys()) == sorted(SERVICES),
              'status flag.etcd.services lists the three services', st.get('services'))
        for name in SERVICES:
            check(st['services'][name]['key'] == skey(name) and st['services'][name]['present'] is False,
                  'service %s: key %s, absent' % (name, skey(name)), st['services'][name])
        check_streams(ec, 'at start')

        # a service key reaches the status; the node stays as it was
        rev = ec.put(skey('placement'), flag_value('placement db migration', mode='maint'))
        s = wait_svc(agent, 'placement', lambda v: v['present'] and v['revision'] >= rev,
                     'NODE/placement written (revision %d) reaches the status' % rev)
        check(s['mode'] == 'maint' and s['active'] is True and s['reason'] == 'placement db migration'
              and s['error'] is None and 'placement db migration' in s['value'],
              'placement: maint, its reason and value, no error', s)
        st = etcd_state(agent)
        check(st['keys']['node']['present'] is False and st.get('active') is False,
              'the node key is absent, the node etcd flag off', st)
        check(agent.reply() == READY, 'the node reply is unchanged: %s' % READY, agent.reply())
        for name in ('nova-api', 'glance'):
            check(st['services'][name]['present'] is False, '%s untouched' % name, st['services'][name])
            check(agent.reply((name + '\n').encode()) == READY, '%s still replies %s' % (name, READY))
        check_within(lambda: agent.reply(b'placement\n') ==
                     'up maint #maintenance: service placement: placement db migration', 5,
                     'placement, asked by name, replies maint held by its service key')

        # other nodes inside the range: not ours, and not unknown services either
        for k in (node_key(NODE) + '-x', node_key(NODE) + '.x', node_key(NODE) + '-x/placement',
                  node_key(NODE) + '-x/nova-api'):
            ec.put(k, flag_value('another node', mode='maint'))
        rev = ec.put(skey('glance'), flag_value('glance marker'))
        wait_svc(agent, 'glance', lambda v: v['present'] and v['revision'] >= rev,
                 'a later write of NODE/glance is seen (so the NODE-x events came first)')
        st = etcd_state(agent)
        check(st['keys']['node']['present'] is False and st.get('active') is False,
              'NODE-x, NODE.x: the node key still absent, node flag off', st['keys']['node'])
        check(st['services']['placement']['reason'] == 'placement db migration'
              and st['services']['nova-api']['present'] is False,
              'NODE-x/placement, NODE-x/nova-api: this node\'s services unchanged', st['services'])
        check(st.get('unknown_services') == [] and st.get('unknown_keys_seen') == 0,
              'other nodes\' keys are not counted as unknown services',
              (st.get('unknown_services'), st.get('unknown_keys_seen')))
        check(agent.reply() == READY, 'reply unchanged', agent.reply())
        ec.delete(skey('glance'))

        # a service this agent does not have
        log0 = agent.log_size()
        ec.put(skey('heat'), flag_value('no such service here'))
        ec.put(skey('heat'), flag_value('again'))
        st, _ = wait_etcd_state(agent, lambda s: s.get('unknown_keys_seen') == 2, 'two writes of NODE/heat counted')
        check(st['unknown_services'] == ['heat'], 'unknown_services lists heat once', st['unknown_services'])
        log = agent.log_text()[log0:]
        lines = [ln for ln in log.splitlines() if 'heat' in ln and 'does not have' in ln]
        check(len(lines) == 1 and skey('heat') in lines[0], 'logged once, naming the key', lines)

        # unreadable values: drain for that service, the error naming the key
        for what, value in (('bytes', b'\x00\xff garbage'), ('bad mode', b'mode=bogus\n'),
                            ('5000 bytes', b'mode=drain\nreason=' + b'x' * 4981 + b'\n')):
            rev = ec.put(skey('nova-api'), value)
            s = wait_svc(agent, 'nova-api', lambda v: v['present'] and v['revision'] >= rev,
                         'nova-api: %s written' % what)
            check(s['mode'] == 'drain' and s['active'] is True and s['error']
                  and skey('nova-api') in s['error'],
                  'nova-api: %s means drain, the error naming %s' % (what, skey('nova-api')), s)
        rev = ec.delete(skey('nova-api'))
        s = wait_svc(agent, 'nova-api', lambda v: not v['present'], 'nova-api key deleted')
        check(s['mode'] == 'off' and s['error'] is None, 'deleted: off, no error', s)

        # the CLI through the daemon
        r = cli_expect(agent, '--maintenance', 'on', '--service', 'glance', '--mode', 'maint',
                       '--reason', 'glance upgrade')
        check('service glance' in r.stdout and skey('glance') in r.stdout, 'the CLI names the service '
              'and its key', r.stdout)
        s = svc(agent, 'glance')
        check(s['mode'] == 'maint' and s['reason'] == 'glance upgrade' and 'by=' in s['value'],
              'glance: maint from the CLI, with by=', s)
        check(ec.get(skey('glance')) is not None, 'etcd has %s' % skey('glance'))
        cli_expect(agent, '--maintenance', 'off', '--service', 'glance')
        check(svc(agent, 'glance')['present'] is False and ec.get(skey('glance')) is None,
              'glance cleared from the CLI')
        r = cli_expect(agent, '--maintenance', 'on', '--service', 'nope', want_rc=2)
        check('nope' in r.stderr, 'an unknown --service is named', r.stderr)
        ans = agent.control('set-etcd-flag service=heat drain x')
        check(ans.get('ok') is False and 'heat' in ans.get('error', ''),
              'the daemon refuses set-etcd-flag for a service it does not have', ans)
        check_streams(ec, 'after the writes')

        # the cache keeps the service keys over a restart with etcd down
        st = etcd_state(agent)
        cache = st['cache_file']
        check_within(lambda: 'service.placement=' in open(cache).read(), 5,
                     'the cache file has a line per service')
        agent.stop()
        ec.stop_member(1)
        agent.start()
        s = svc(agent, 'placement')
        st = etcd_state(agent)
        check(st['cached'] is True and s['present'] is True and s['mode'] == 'maint'
              and s['reason'] == 'placement db migration',
              'restarted with etcd down: placement still maint, from the cache', (st['cached'], s))
        agent.stop()

        # an older cache (revision, node, all only) still loads
        with open(cache, 'w') as f:
            f.write('# zdu-agent: the etcd flags last seen, used while etcd cannot be reached\n'
                    'revision=5\nnode=-\nall=-\n')
        agent.start()
        st = etcd_state(agent)
        check(st['cached'] is True and st.get('active') is False and st.get('error') is None
              and all(st['services'][n]['present'] is False for n in SERVICES),
              'an older cache without service lines loads: no drain, services absent', st)
        check(agent.reply() == READY, 'reply %s' % READY, agent.reply())
        ec.start_member(1)
        ec.wait_healthy()
        wait_svc(agent, 'placement', lambda v: v['present'] and v['mode'] == 'maint',
                 'etcd back: placement read again', timeout=10)
        agent.stop()
    print('took %.1f s' % (time.monotonic() - t_start))


if __name__ == '__main__':
    main(run)
