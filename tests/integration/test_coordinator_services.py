#!/usr/bin/python3
"""zdu-coordinator with several services (issue 18): plans with unit = "service" and
unit = "node", against real HAProxy and the built zdu-agent.

Three nodes on 127.0.0.151..153, each with two fake APIs (nova-api and placement-api, the fake
nova-api of tests/lib/fake_nova.py each) and ONE zdu-agent with a services list; two HAProxy,
each with backends nova-api and placement-api whose servers send their service's name
(agent-send) to the node's one agent port. The upgrade command is tests/lib/fake_upgrade.py: it
records what both load balancers show for the node's servers in every backend, then moves the
named services to their new version.

  1. unit = "service", nova-api then placement-api, rolling, a before_command and an
     after_command per service and for the plan: exit 0; every service of every node upgraded
     once, in the plan's order (every nova-api before any placement-api); at each upgrade, that
     service's server DRAIN with no session on both load balancers while the node's OTHER
     service's server was UP (a service flag drains its own backend only); the window commands
     ran in order (plan before, nova before, nova after, placement before, placement after, plan
     after); every --json event of a pass names its service; --status --plan says complete.
  2. unit = "service" again with a failing upgrade of node2's placement-api: exit 1; --status
     names node2 (service placement-api); after the fix, --resume upgrades only what is left
     (no nova-api node again, node1's placement-api not again) and exits 0.
  3. unit = "node", strategy cutover: every node upgraded once with both services
     ({services}); at its upgrade both its servers drained on both load balancers; the switch
     is one runtime request per load balancer carrying both backends' servers; every node ends
     at both new versions, every server UP.
  4. --dry-run of a unit = "service" plan prints each service, node and phase, and changes
     nothing."""
import json
import os

from agentlib import Agent, check, main
from clusterlib import FAKE_UPGRADE, coordinator_binary, libconfig_str
from fake_nova import FakeNova
from serviceslib import ServicesHAProxy, services_text
from testutil import tempdir, wait_until
import subprocess
import sys

ADDRS = ['127.0.0.151', '127.0.0.152', '127.0.0.153']
SERVICES = ['nova-api', 'placement-api']
OLD = {'nova-api': '2.90', 'placement-api': '2.80'}
NEW = {'nova-api': '2.93', 'placement-api': '2.85'}


class CP:
    """Three nodes, two services each, two load balancers."""

    def __init__(self):
        self.wd = tempdir('zdu-cp-')
        self.nodes = []
        self.lbs = []

    def start(self):
        for i, addr in enumerate(ADDRS):
            name = 'node%d' % (i + 1)
            apis = {s: FakeNova(addr, 0, control_port=0, version=OLD[s]).start() for s in SERVICES}
            text = services_text([dict(name=s, probe='nova', url='http://%s:%d/v2.1/' % (addr, apis[s].port),
                                       interval_ms=200, timeout_ms=150, rise=1, fall=2,
                                       drain_ports=[apis[s].port]) for s in SERVICES])
            agent = Agent(workdir=os.path.join(self.wd, name), addr=addr, name=name,
                          settings={'drain': {'settle_ms': 500, 'interval_ms': 100},
                                    'flag': {'poll_interval_ms': 1000}},
                          extra_text=text)
            os.makedirs(agent.workdir, exist_ok=True)
            agent.start()
            self.nodes.append(dict(name=name, addr=addr, apis=apis, agent=agent))
        backends = {s: [dict(name=n['name'], addr=n['addr'], port=n['apis'][s].port, weight=100,
                             agent_port=n['agent'].port, agent_addr=n['addr'], agent_send=s + '\n')
                        for n in self.nodes] for s in SERVICES}
        for j in range(2):
            lb = ServicesHAProxy(self.wd, name='lb%d' % (j + 1), backends=backends, agent_inter_ms=300,
                                 check=False)
            lb.start()
            self.lbs.append(lb)
        self.wait_all_up()
        return self

    def stop(self):
        for lb in self.lbs:
            lb.stop()
        for n in self.nodes:
            n['agent'].stop()
            for a in n['apis'].values():
                a.stop()

    def all_up(self):
        for lb in self.lbs:
            rows = lb.server_rows()
            for n in self.nodes:
                for s in SERVICES:
                    r = rows.get((s, n['name']))
                    if not r or r['status'] not in ('UP', 'no check') or r['weight'] != '100':
                        return False
        return True

    def wait_all_up(self, timeout=15):
        wait_until(self.all_up, timeout=timeout, interval=0.05,
                   message=lambda: 'every server UP weight 100: %r' % [lb.server_rows() for lb in self.lbs])

    def reset(self):
        """Every API back at its old version, no flag anywhere, every server UP."""
        for n in self.nodes:
            for s in SERVICES:
                n['apis'][s].set_mode('healthy', version=OLD[s])
        self.wait_all_up()
        wait_until(lambda: all(self.versions(n) == OLD for n in self.nodes), timeout=10, interval=0.05,
                   message='every agent probed the old versions')

    def versions(self, node):
        st = node['agent'].status()
        return {s['name']: s['health']['version'] for s in st['services']}

    def map(self, name, fail=()):
        mp = dict(lbs=[lb.sock_path for lb in self.lbs], record=os.path.join(self.wd, name + '.record'),
                  fail=list(fail), nodes={},
                  services={n['name']: {s: [n['addr'], n['apis'][s].control_port] for s in SERVICES}
                            for n in self.nodes},
                  backends={s: s for s in SERVICES}, versions=NEW)
        path = os.path.join(self.wd, name + '.map')
        with open(path, 'w') as f:
            json.dump(mp, f)
        if os.path.exists(mp['record']):
            os.unlink(mp['record'])
        return path, mp['record']

    def plan(self, name, mapfile, unit, strategy='rolling', windows=False, arg='{service}'):
        log = os.path.join(self.wd, name + '.windows')
        cmd = '%s %s %s {node} %s' % (sys.executable, FAKE_UPGRADE, mapfile, arg)

        def win(what):
            return libconfig_str('echo %s >> %s' % (what, log)) if windows else '""'
        svc = ',\n'.join('  { name = "%s"; backend = "%s"; expect_version = "%s";%s }'
                         % (s, s, NEW[s], (' before_command = %s; after_command = %s;'
                                           % (win(s + '-before'), win(s + '-after'))) if windows else '')
                         for s in SERVICES)
        text = '\n'.join([
            'unit = "%s";' % unit, 'strategy = "%s";' % strategy, 'min_ready = 1;',
            'upgrade_command = %s;' % libconfig_str(cmd),
            'before_command = %s;' % win('plan-before'), 'after_command = %s;' % win('plan-after'),
            'journal = %s;' % libconfig_str(os.path.join(self.wd, name + '.journal')),
            'timeouts: { drain_ms = 20000; upgrade_ms = 30000; health_ms = 20000; up_ms = 20000; '
            'poll_ms = 100; request_ms = 3000; };',
            'load_balancers = ( %s );' % ', '.join('{ name = "%s"; runtime = "unix:%s"; }' % (lb.name, lb.sock_path)
                                                    for lb in self.lbs),
            'services = (\n%s\n);' % svc,
            'nodes = ( %s );' % ', '.join('{ name = "%s"; agent = "unix:%s"; }' % (n['name'], n['agent'].sock_path)
                                          for n in self.nodes), ''])
        path = os.path.join(self.wd, name + '.plan')
        with open(path, 'w') as f:
            f.write(text)
        return path, log

    def coordinator(self, *args, timeout=120):
        return subprocess.run([coordinator_binary()] + list(args), capture_output=True, text=True, timeout=timeout)


def records(path):
    return [json.loads(line) for line in open(path)] if os.path.exists(path) else []


def events(out):
    return [json.loads(line) for line in out.splitlines() if line.startswith('{')]


def check_at_new(cp):
    for n in cp.nodes:
        v = cp.versions(n)
        check(v == NEW, '%s ends with every service at its new version' % n['name'], v)
    cp.wait_all_up()
    check(True, 'every server UP with weight 100 on both load balancers')


def unit_service(cp):
    mapfile, rec = cp.map('svc')
    plan, log = cp.plan('svc', mapfile, 'service', windows=True)
    r = cp.coordinator('--plan', plan, '--json')
    check(r.returncode == 0, 'unit = "service": exit 0', r.stdout[-3000:] + r.stderr)
    rs = records(rec)
    got = [(x['node'], x['services']) for x in rs]
    want = [(n['name'], [s]) for s in SERVICES for n in cp.nodes]
    check(got == want, 'every service of every node upgraded once, service by service in plan order', got)
    for x in rs:
        svc = x['services'][0]
        other = [s for s in SERVICES if s != svc][0]
        for lb, per in x['seen'].items():
            check('DRAIN' in per[svc]['status'] and per[svc]['scur'] == 0,
                  '%s %s upgraded while drained on %s (%s)' % (x['node'], svc, lb, per[svc]))
            check(per[other]['status'] in ('UP', 'no check'),
                  '%s %s kept serving on %s while %s was upgraded (%s)' % (x['node'], other, lb, svc,
                                                                          per[other]['status']))
    lines = open(log).read().split()
    check(lines == ['plan-before', 'nova-api-before', 'nova-api-after', 'placement-api-before',
                    'placement-api-after', 'plan-after'],
          'window commands in order: plan, each service around its nodes, plan', lines)
    ev = events(r.stdout)
    for e in ev:
        if e.get('node') and e.get('step') in ('drain', 'upgrade', 'wait-up'):
            check(e.get('service') in SERVICES, 'node event names its service: %s' % e, e)
    check(any(e.get('step') == 'before' and e.get('service') == 'placement-api' for e in ev),
          'placement-api\'s before_command event names the service')
    check_at_new(cp)
    st = cp.coordinator('--status', '--plan', plan)
    check(st.returncode == 0 and 'complete' in st.stdout and 'service placement-api' in st.stdout,
          '--status --plan: complete, by service', st.stdout)


def unit_service_resume(cp):
    cp.reset()
    mapfile, rec = cp.map('resume', fail=['node2/placement-api'])
    plan, _ = cp.plan('resume', mapfile, 'service')
    r = cp.coordinator('--plan', plan)
    check(r.returncode == 1, 'node2\'s placement-api upgrade fails: exit 1', r.stdout[-2000:])
    st = cp.coordinator('--status', '--plan', plan)
    check('node2 (service placement-api)' in st.stdout, '--status names node2 (service placement-api)',
          st.stdout)
    cp.map('resume')  # the fix (it empties the record)
    r = cp.coordinator('--plan', plan, '--resume')
    check(r.returncode == 0, '--resume: exit 0', r.stdout[-3000:])
    again = [(x['node'], x['services']) for x in records(rec)]
    check(again == [('node2', ['placement-api']), ('node3', ['placement-api'])],
          '--resume upgrades only node2 and node3\'s placement-api', again)
    check('already upgraded (journal)' in r.stdout, 'the finished nodes are skipped (journal)', r.stdout[-3000:])
    check_at_new(cp)


def unit_node_cutover(cp):
    cp.reset()
    mapfile, rec = cp.map('node')
    plan, _ = cp.plan('node', mapfile, 'node', strategy='cutover', arg='{services}')
    r = cp.coordinator('--plan', plan, '--json')
    check(r.returncode == 0, 'unit = "node", cutover: exit 0', r.stdout[-3000:] + r.stderr)
    rs = records(rec)
    got = sorted((x['node'], sorted(x['services'])) for x in rs)
    check(got == [(n['name'], sorted(SERVICES)) for n in cp.nodes],
          'every node upgraded once, both services in one command', got)
    for x in rs:
        for lb, per in x['seen'].items():
            for s in SERVICES:
                check('DRAIN' in per[s]['status'] and per[s]['scur'] == 0,
                      '%s: %s drained on %s at the upgrade (%s)' % (x['node'], s, lb, per[s]))
    ev = events(r.stdout)
    sends = [e['message'] for e in ev if e.get('step') == 'switch' and 'set server' in e.get('message', '')]
    check(sends and all('nova-api/node1 state ready' in m and 'placement-api/node1 state ready' in m
                        and 'nova-api/node2 state drain' in m and 'placement-api/node3 state drain' in m
                        for m in sends[:1]),
          'the switch of both backends is one runtime request', sends[:1])
    node_ev = [e for e in ev if e.get('node') and e.get('step') == 'upgrade']
    check(node_ev and all(sorted(e.get('services', [])) == sorted(SERVICES) for e in node_ev),
          'a node\'s events name its services', node_ev[:1])
    check_at_new(cp)


def dry_run(cp):
    cp.reset()
    mapfile, rec = cp.map('dry')
    plan, _ = cp.plan('dry', mapfile, 'service', strategy='cutover')
    r = cp.coordinator('--plan', plan, '--dry-run')
    check(r.returncode == 0, '--dry-run: exit 0', r.stdout + r.stderr)
    for s in SERVICES:
        check('service %s: cutover, 3 nodes' % s in r.stdout, '--dry-run names service %s' % s, r.stdout)
        check("service %s's flag" % s in r.stdout, '--dry-run: %s drains with its own flag' % s)
    check(r.stdout.count('would switch every load balancer') == 2, '--dry-run: one switch per service')
    check(not records(rec) and all(cp.versions(n) == OLD for n in cp.nodes), '--dry-run changed nothing')


def run():
    cp = CP().start()
    try:
        unit_service(cp)
        unit_service_resume(cp)
        unit_node_cutover(cp)
        dry_run(cp)
    finally:
        cp.stop()


if __name__ == '__main__':
    main(run)
