#!/usr/bin/python3
"""A loopback cluster for coordinator tests: N API nodes (fake nova-api + zdu-agent each, on
127.0.0.11, .12, ...) behind one or more real HAProxy load balancers with the same backend.

    with Cluster(nodes=3, lbs=2) as cl:
        plan = cl.write_plan(upgrade_command='...')
        r = cl.coordinator('--plan', plan)

Cluster(nodes=3, lbs=2, agent_inter_ms=300, settle_ms=800, version='2.90', workdir=None,
        lb_mode='http', lb_kwargs=None, agent_extra=None)
  agent_extra: callable(name) -> dict of extra agent settings groups (e.g. etcd) per node
  lb_kwargs: extra haproxy.HAProxy constructor arguments for every LB: a dict, or a
      callable(index) -> dict (index 0 is lb1), e.g. to give lb1 a frontend or a TCP
      stats socket: lambda j: dict(frontend=('127.0.0.1', port)) if j == 0 else {}
  .nodes   list of dicts: name ('node1'...), addr, nova (FakeNova), agent (agentlib.Agent)
  .lbs     list of haproxy.HAProxy (names lb1, lb2, ...), started, backend 'nova-api'
  write_plan(upgrade_command, **overrides) -> path    a libconfig plan for zdu-coordinator
      (unix: links to the agents' control sockets, runtime = the LBs' stats sockets);
      overrides: min_ready, expect_version, timeouts (dict), nodes (list of names), extra,
      lbs (list of (name, runtime)), journal, node_entries (list of dicts name/server/agent
      written as they are, instead of NODES), backend (default 'nova-api')
  upgrade_map(fail=(), version='2.93', agent_down=False) -> (mapfile, record)   (re)writes the
      JSON map of fake_upgrade.py (see there) for this cluster; upgrade_command(mapfile, arg='{node}')
      is the plan's command running it
  coordinator(*args, timeout=120) -> CompletedProcess   runs $ZDU_COORDINATOR (or
      $ZDU_BUILD_DIR/agent/zdu-coordinator)
  wait_all_up(timeout)   every server UP with weight 100 on every LB
  set_version(name, v)   the node's fake nova now advertises v ("upgrade")
"""
import json
import os
import signal
import subprocess
import sys

from agentlib import Agent
from fake_nova import FakeNova
from haproxy import HAProxy
from testutil import tempdir, wait_until

FAKE_UPGRADE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fake_upgrade.py')


def coordinator_binary():
    if os.environ.get('ZDU_COORDINATOR'):
        return os.environ['ZDU_COORDINATOR']
    agent = os.environ.get('ZDU_AGENT')
    if agent:
        return os.path.join(os.path.dirname(agent), 'zdu-coordinator')
    return os.path.join(os.environ.get('ZDU_BUILD_DIR', 'build'), 'agent', 'zdu-coordinator')


def start_coordinator(path, *args):
    """zdu-coordinator ARGS started in the background, stdout and stderr to file PATH:
    (the Popen, the open output file)."""
    out = open(path, 'w')
    return subprocess.Popen([coordinator_binary()] + list(args), stdout=out,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL), out


def wait_slow_upgrade(pidfile, out, name, timeout=60):
    """Wait until coordinator NAME (its output in file OUT) runs node1's slow upgrade, the
    command that writes its pid to PIDFILE and sleeps; return that pid."""
    wait_until(lambda: os.path.exists(pidfile) and open(pidfile).read().strip(), timeout=timeout,
               message=lambda: '%s runs node1\'s slow upgrade; %s says:\n%s'
               % (name, name, open(out.name).read()))
    return int(open(pidfile).read())


def coordinator_cleanup(proc, out, name, orphan=None):
    """End a coordinator started with Popen (kill it if it still runs), close and print its
    output file OUT under NAME, and kill ORPHAN (the pid of a slow upgrade command it left in
    a process group of its own), if any."""
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    out.close()
    print('--- coordinator %s:\n%s' % (name, open(out.name).read()))
    if orphan is not None:
        try:
            os.kill(orphan, signal.SIGKILL)
        except ProcessLookupError:
            pass


def libconfig_str(s):
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"') + '"'


class Cluster:
    def __init__(self, nodes=3, lbs=2, agent_inter_ms=300, settle_ms=800, version='2.90',
                 workdir=None, lb_mode='http', lb_kwargs=None, agent_extra=None, base=11):
        self.workdir = workdir or tempdir('zdu-cluster-')
        self.nodes = []
        self.lbs = []
        self.version = version
        self.n_nodes = nodes
        self.n_lbs = lbs
        self.agent_inter_ms = agent_inter_ms
        self.settle_ms = settle_ms
        self.lb_mode = lb_mode
        self.lb_kwargs = lb_kwargs
        self.agent_extra = agent_extra
        self.base = base  # node i's address: 127.0.0.(base + i)

    def start(self):
        for i in range(self.n_nodes):
            name = 'node%d' % (i + 1)
            addr = '127.0.0.%d' % (self.base + i)
            nova = FakeNova(addr, 0, control_port=0, version=self.version).start()
            settings = {
                'probe': {'enabled': True, 'url': 'http://%s:%d/v2.1/' % (addr, nova.port),
                          'interval_ms': 200, 'timeout_ms': 150, 'rise': 1, 'fall': 2},
                'drain': {'ports': [nova.port], 'settle_ms': self.settle_ms, 'interval_ms': 100},
                'flag': {'poll_interval_ms': 1000}}
            if self.agent_extra:
                settings.update(self.agent_extra(name))
            agent = Agent(workdir=os.path.join(self.workdir, name), addr=addr, name=name,
                          settings=settings)
            os.makedirs(agent.workdir, exist_ok=True)
            agent.start()
            self.nodes.append(dict(name=name, addr=addr, nova=nova, agent=agent))
        servers = [dict(name=n['name'], addr=n['addr'], port=n['nova'].port,
                        agent_port=n['agent'].port, weight=100) for n in self.nodes]
        for j in range(self.n_lbs):
            kw = self.lb_kwargs(j) if callable(self.lb_kwargs) else dict(self.lb_kwargs or {})
            lb = HAProxy(self.workdir, name='lb%d' % (j + 1), servers=servers,
                         agent_inter_ms=self.agent_inter_ms, mode=self.lb_mode, **kw)
            lb.start()
            self.lbs.append(lb)
        self.wait_all_up()
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        for lb in self.lbs:
            lb.stop()
        for n in self.nodes:
            n['agent'].stop()
            n['nova'].stop()

    def node(self, name):
        return next(n for n in self.nodes if n['name'] == name)

    def set_version(self, name, version):
        self.node(name)['nova'].set_mode('healthy', version=version)

    def all_up(self):
        """Every server UP with weight 100 on every load balancer, now."""
        for lb in self.lbs:
            for n in self.nodes:
                row = lb.server(n['name'])
                if row['status'] != 'UP' or row['weight'] != '100':
                    return False
        return True

    def wait_all_up(self, timeout=15):
        wait_until(self.all_up, timeout=timeout, interval=0.05, message='every server UP weight 100')

    def write_plan(self, upgrade_command, name='plan.conf', min_ready=1, expect_version=None,
                   timeouts=None, nodes=None, extra='', lbs=None, journal=None, node_entries=None,
                   backend='nova-api'):
        t = dict(drain_ms=20000, upgrade_ms=30000, health_ms=20000, up_ms=20000, poll_ms=100,
                 request_ms=3000)
        t.update(timeouts or {})
        names = nodes or [n['name'] for n in self.nodes]
        lines = ['backend = %s;' % libconfig_str(backend),
                 'upgrade_command = %s;' % libconfig_str(upgrade_command),
                 'journal = %s;' % libconfig_str(journal or os.path.join(self.workdir, 'journal')),
                 'min_ready = %d;' % min_ready]
        if expect_version:
            lines.append('expect_version = "%s";' % expect_version)
        lines.append('timeouts: { %s };' % ' '.join('%s = %d;' % kv for kv in t.items()))
        lb_list = lbs if lbs is not None else [(lb.name, 'unix:' + lb.sock_path) for lb in self.lbs]
        lines.append('load_balancers = ( %s );' % ', '.join(
            '{ name = "%s"; runtime = %s; }' % (n, libconfig_str(r)) for n, r in lb_list))
        if node_entries is None:
            node_entries = [dict(name=nm, server=nm, agent='unix:' + self.node(nm)['agent'].sock_path)
                            for nm in names]
        lines.append('nodes = ( %s );' % ', '.join(
            '{ name = %s; server = %s; agent = %s; }'
            % (libconfig_str(e['name']), libconfig_str(e['server']), libconfig_str(e['agent']))
            for e in node_entries))
        lines.append(extra)
        path = os.path.join(self.workdir, name)
        with open(path, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        return path

    def upgrade_map(self, fail=(), version='2.93', name='map.json', agent_down=False):
        mp = dict(lbs=[lb.sock_path for lb in self.lbs],
                  record=os.path.join(self.workdir, 'record.jsonl'), version=version,
                  fail=list(fail), agent_down=agent_down,
                  nodes={n['name']: [n['addr'], n['nova'].control_port] for n in self.nodes})
        path = os.path.join(self.workdir, name)
        with open(path + '.tmp', 'w') as f:
            json.dump(mp, f)
        os.rename(path + '.tmp', path)
        return path, mp['record']

    @staticmethod
    def upgrade_command(mapfile, arg='{node}'):
        return '%s %s %s %s' % (sys.executable if sys.executable else '/usr/bin/python3',
                                FAKE_UPGRADE, mapfile, arg)

    def coordinator(self, *args, timeout=120):
        return subprocess.run([coordinator_binary()] + list(args), capture_output=True, text=True,
                              timeout=timeout)
