#!/usr/bin/python3
"""End-to-end proof for a whole control plane (issue 18): three nodes, each running a REAL
nova-api, a REAL placement-api and a REAL glance-api with ONE zdu-agent answering for all three,
behind two REAL HAProxy; a load on every API; the APIs upgraded service by service (by hand as
nova's guide says, and by zdu-coordinator rolling or cutting over) and node by node.

    tests/e2e/run cp-manual cp-rolling cp-cutover cp-node cp-manual-2    # or: tests/e2e/run cp
    ZDU_AGENT=... /usr/bin/python3 tests/e2e/controlplane.py [SCENARIO...]   (default: all five)

The cluster (loopback only, started and stopped here):
  * node1..node3 on 127.0.0.11..13, each with nova-api :8774 (tests/nova/nova-node), placement-api
    :8778 and glance-api :9292 (tests/e2e/api-node), Debian 12's packages under uwsgi. Old
    release: nova-api at MAX_VERSION 2.90, placement-api with its maximum lowered to 1.36
    (apilib's wsgi entry truncates placement.microversion.VERSIONS), glance-api the same code
    (no microversions: health only); new release: stock (nova 2.93, placement 1.39 on Debian 12).
    tests/e2e/upgrade-node MAP NODE SERVICE|all restarts services of a node as the new release.
  * one zdu-agent per node on the node's address with a `services` list: glance-api (probe
    healthcheck, /healthcheck), placement-api (probe microversion, versions[0].max_version),
    nova-api (probe nova); each every 500 ms, timeout 450 ms, rise 2 (100 ms apart:
    rise_interval_ms), fall 2, every 100 ms while flagged (maintenance_interval_ms), its
    drain_ports; drain.local = the node's address, drain.from = the load balancers' source
    addresses (127.0.0.21, 127.0.0.22: only their connections count), counted every 100 ms,
    settle 1500 ms.
  * lb1, lb2: HAProxy, backends nova-api, placement-api, glance-api (roundrobin, `option
    http-server-close`, `source 127.0.0.21` or `.22`), a frontend per backend on 127.0.0.1 (free
    ports), servers `weight 100
    check inter 500ms` plus, in the coordinator scenarios, `agent-check agent-port P agent-send
    "NAME\\n" agent-inter 500ms` to the node's one agent port.
  * the load: one tests/e2e/loadgen.py per API (--api nova|placement|glance) through lb1, each
    stream discovering its API's version and using the newest it saw; from PRE seconds before
    the scenario's action to POST seconds after it.

Scenarios (each from nova-api and placement-api of every node at the old release, the LBs
restarted; glance-api's old and new releases are the same code, so a glance-api the previous
scenario left at the new release is not restarted, and the end check below wants every API of
every node, glance-api too, restarted during the rollout):
  cp-manual   nova's guide per service, without agents: for each service, node by node: `set
              weight BACKEND/NODE 0` on both LBs, wait until scur is 0 on both, upgrade-node MAP
              NODE SERVICE, `set weight 100`, wait until UP with weight 100 on both, next
  cp-rolling  zdu-coordinator, unit = "service", every service rolling
  cp-cutover  zdu-coordinator, unit = "service", nova-api and placement-api cutover, glance-api
              rolling
  cp-node     zdu-coordinator, unit = "node", strategy cutover (every service of a node at once)
  cp-manual-2 cp-manual again, last (see the ratios below)
Services go in the order glance-api, placement-api, nova-api (openstack-ansible's).

The table: a row per scenario and API (requests, failed, 406s, version regressions, other
statuses, the scenario's wall time, the service's own span, latency, rate), the wall-time ratios
of cp-rolling, cp-cutover and cp-node to the manual procedure's (with issue 18's goals, 1.1 and
1.2, said met or not): the mean of cp-manual's and cp-manual-2's, run first and last, since the
machine's pace drifts over a run (the same nine upgrade commands took 37 s in one scenario and
49.5 s two scenarios later); cp-manual's alone when cp-manual-2 did not run. And each
coordinator scenario's step shares from its --json events (the time up to each event counted
for that event's step, summed over nodes and services, as % of the wall time: drain+settle =
drain + wait-drained, upgrade, health = wait-healthy, wait-up = undrain + wait-up, switch,
other = the rest: preflight, capacity, before, after, start-up).

Exit status 1 (CTest fails) on: a failed request (connect error, reset, timeout, 5xx) of any API
in any scenario; a 406 or a version regression of nova-api or placement-api in cp-cutover or
cp-node; a coordinator exit status not 0; a service of a node not at the new release at the end
(ZDU_E2E_RELEASE=new in its uwsgi master's environment, that master started after the rollout
began, and for nova and placement the maximum it advertises: 2.93, 1.39);
"no server available" in a load balancer's log in a coordinator scenario; an API that got no
request; a harness error; and a wall-time ratio missing from the table when cp-rolling or
cp-cutover ran (cp-manual must run with them). 77 when the APIs cannot be installed.

Results: $ZDU_BUILD_DIR/e2e-cp/results.{md,json}; logs, per-request records and the
coordinator's events: $ZDU_BUILD_DIR/e2e-cp/work/ (ZDU_E2E_CP_DIR moves both).
Environment: ZDU_E2E_CP_RATE (requests/s per API, 40), ZDU_E2E_CP_STREAMS (per API, 6),
ZDU_E2E_CP_PRE_S (2), ZDU_E2E_CP_POST_S (2), ZDU_E2E_CP_POLL_MS (the plans' timeouts.poll_ms, 100),
ZDU_E2E_ADDRS ("127.0.0.11 127.0.0.12 127.0.0.13"),
ZDU_E2E_DEPS_DONE=1 (skip the package check). One e2e run at a time (/tmp/zdu-e2e.lock, shared
with upgrade.py: the same addresses).
"""

import collections
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
# The load balancers connect to the APIs from these (HAProxy's `source`), and the agents count
# only their connections (drain.from), as the README tells operators: the agents' own probes,
# which come from 127.0.0.1, then never hold a drain or keep a restarting API "not drained".
LB_SOURCES = ('127.0.0.21', '127.0.0.22')
SRC = os.path.abspath(os.environ.get('ZDU_SOURCE_DIR') or os.path.join(HERE, '..', '..'))
sys.path.insert(0, os.path.join(SRC, 'tests', 'lib'))
sys.path.insert(0, HERE)

import upgrade as e2e  # noqa: E402  (the nova e2e: its helpers and its new nova release)
from agentlib import Agent, agent_binary  # noqa: E402
from haproxy import base_status  # noqa: E402
from serviceslib import ServicesHAProxy, services_text  # noqa: E402
from apilib import http_get  # noqa: E402
from testutil import Proc, free_port, parallel, wait_until  # noqa: E402
from upgrade import LOADGEN, NOVA_NODE, PY, UPGRADE_NODE, log  # noqa: E402

API_NODE = os.path.join(HERE, 'api-node')
PLACEMENT_MV = '/usr/lib/python3/dist-packages/placement/microversion.py'


def placement_stock_max(default='1.39'):
    """The installed python3-placement's maximum microversion (the last of VERSIONS)."""
    try:
        text = open(PLACEMENT_MV).read()
    except OSError:
        return default
    m = re.search(r'^VERSIONS = \[(.*?)^\]', text, re.M | re.S)
    vs = re.findall(r"'(\d+\.\d+)'", m.group(1)) if m else []
    return vs[-1] if vs else default


class Svc:
    """One API of every node: NAME (the agent's service, the HAProxy backend, upgrade-node's
    word), KIND (nova-node or api-node's), PORT, OLD and NEW maximum microversions (None: none)
    and its probe in the agent's services list."""

    def __init__(self, name, kind, port, old, new, probe):
        self.name, self.kind, self.port, self.old, self.new = name, kind, port, old, new
        self.probe = probe

    @property
    def microversioned(self):
        return self.new is not None


SERVICES = [
    Svc('glance-api', 'glance', 9292, None, None,
        dict(probe='healthcheck', path='/healthcheck')),
    Svc('placement-api', 'placement', 8778, '1.36', placement_stock_max(),
        dict(probe='microversion', path='/', version_path='versions[0].max_version')),
    Svc('nova-api', 'nova', 8774, e2e.OLD, e2e.NEW, dict(probe='nova', path='/v2.1/')),
]
SVC = {s.name: s for s in SERVICES}
STEP_KINDS = collections.OrderedDict([
    ('drain+settle', ('drain', 'wait-drained')), ('upgrade', ('upgrade',)),
    ('health', ('wait-healthy',)), ('wait-up', ('undrain', 'wait-up')), ('switch', ('switch',)),
    ('other', ())])
GOALS = {'cp-rolling': 1.1, 'cp-cutover': 1.2}     # issue 18: x the manual procedure's wall time



class Settings:
    def __init__(self):
        self.rate = e2e.env_num('ZDU_E2E_CP_RATE', 40.0)
        self.streams = e2e.env_num('ZDU_E2E_CP_STREAMS', 6)
        self.pre_s = e2e.env_num('ZDU_E2E_CP_PRE_S', 2.0)
        self.post_s = e2e.env_num('ZDU_E2E_CP_POST_S', 2.0)
        self.addrs = os.environ.get('ZDU_E2E_ADDRS', '127.0.0.11 127.0.0.12 127.0.0.13').split()
        build = os.environ.get('ZDU_BUILD_DIR') or os.path.dirname(os.path.dirname(agent_binary()))
        self.outdir = os.path.realpath(os.environ.get('ZDU_E2E_CP_DIR') or os.path.join(build, 'e2e-cp'))
        self.workdir = os.path.join(self.outdir, 'work')


def run_cmd(argv, timeout=180, env=None, check=True):
    e = dict(os.environ)
    e.update(env or {})
    r = subprocess.run([str(a) for a in argv], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=timeout, env=e)
    if check and r.returncode != 0:
        raise RuntimeError('%s: exit %d\n%s%s' % (' '.join(map(str, argv)), r.returncode,
                                                  r.stdout[-2000:], r.stderr[-3000:]))
    return r


def uwsgi_master(d):
    """The pid of the uwsgi master of API directory D (its pidfile), or None."""
    try:
        with open(os.path.join(d, 'uwsgi.pid')) as f:
            pid = int(f.read().strip() or 0)
        with open('/proc/%d/stat' % pid) as f:
            if f.read().rsplit(')', 1)[1].split()[0] == 'Z':
                return None
        return pid
    except (OSError, ValueError, IndexError):
        return None


def process_start(pid):
    """When PID started (epoch seconds), from /proc: its start time in clock ticks after boot."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            ticks = int(f.read().rsplit(')', 1)[1].split()[19])
        with open('/proc/stat') as f:
            btime = next(int(ln.split()[1]) for ln in f if ln.startswith('btime '))
        return btime + ticks / os.sysconf('SC_CLK_TCK')
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def process_env(pid, key):
    try:
        with open('/proc/%d/environ' % pid, 'rb') as f:
            for kv in f.read().split(b'\0'):
                k, _, v = kv.partition(b'=')
                if k.decode(errors='replace') == key:
                    return v.decode(errors='replace')
    except OSError:
        pass
    return None


def advertised(addr, svc):
    """The maximum microversion the API at ADDR advertises now, or None."""
    url = 'http://%s:%d%s' % (addr, svc.port, svc.probe['path'])
    try:
        status, _, body = http_get(url, timeout=3.0)
        doc = json.loads(body)
        return doc['version']['version'] if svc.kind == 'nova' else doc['versions'][0]['max_version']
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None


class Node:
    def __init__(self, idx, addr, workdir):
        self.name = 'node%d' % idx
        self.addr = addr
        self.dir = os.path.join(workdir, self.name)
        self.svc_dir = {s.name: os.path.join(self.dir, s.name) for s in SERVICES}
        self.agent = None

    def release(self, svc, since=None):
        """'old' or 'new' when the API runs as that release (its uwsgi's ZDU_E2E_RELEASE and, for
        a microversioned API, the maximum it advertises agree); else what is wrong. SINCE (epoch):
        its uwsgi must also have started after that (it was upgraded, not left running)."""
        pid = uwsgi_master(self.svc_dir[svc.name])
        if pid is None:
            return 'not running'
        rel = process_env(pid, 'ZDU_E2E_RELEASE')
        if rel not in ('old', 'new'):
            return 'started without ZDU_E2E_RELEASE'
        if svc.microversioned:
            want = svc.new if rel == 'new' else svc.old
            got = advertised(self.addr, svc)
            if got != want:
                return '%s but advertises %s, not %s' % (rel, got, want)
        started = process_start(pid)
        if since is not None and (started is None or started < since - 1.0):
            return '%s, not restarted since the rollout began (uwsgi started %s)' % (
                rel, time.strftime('%H:%M:%S', time.localtime(started)) if started else '?')
        return rel


class CPHAProxy(ServicesHAProxy):
    """ServicesHAProxy with a frontend per backend (FRONTENDS: {backend: port} on 127.0.0.1)."""

    def __init__(self, workdir, backends, frontends, **kw):
        self.frontends = dict(frontends)
        super().__init__(workdir, backends, **kw)

    def config_text(self):
        text = super().config_text()
        for b, port in self.frontends.items():
            text += '\nfrontend fe_%s\n    bind 127.0.0.1:%d\n    default_backend %s\n' % (b, port, b)
        return text

    def set_weight_of(self, backend, server, weight):
        self.admin('set weight %s/%s %d' % (backend, server, weight))


def reap(d, kind):
    """Stop the API of directory D, and kill any uwsgi still naming its pidfile (a run killed
    half-way). Returns the pids killed."""
    if os.path.isdir(d):
        run_cmd([NOVA_NODE if kind == 'nova' else API_NODE, 'stop', d], check=False, timeout=60)
    pids = e2e.pids_with_args(['--pidfile', os.path.join(d, 'uwsgi.pid')])
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return pids


class Cluster:
    def __init__(self, st):
        self.st = st
        self.nodes = [Node(i + 1, a, st.workdir) for i, a in enumerate(st.addrs)]
        self.lbs = []
        self.fe_ports = []      # per LB: {backend: port}
        self.map_path = os.path.join(st.workdir, 'services.map')

    def upgrade(self, node, names, release='new', timeout=240):
        """upgrade-node MAP NODE NAMES... (the same command the coordinator runs), at RELEASE."""
        return run_cmd([UPGRADE_NODE, self.map_path, node.name] + list(names), timeout=timeout,
                       env={'ZDU_E2E_RELEASE': release})

    def setup(self):
        t = time.monotonic()
        jobs = []
        for n in self.nodes:
            os.makedirs(n.dir, exist_ok=True)
            for s in SERVICES:
                d = n.svc_dir[s.name]
                jobs.append([NOVA_NODE, 'setup', d] if s.kind == 'nova' else
                            [API_NODE, 'setup', s.kind, d])
        parallel(lambda argv: run_cmd(argv, timeout=600), jobs)
        with open(self.map_path, 'w') as f:
            f.write('# NODE SERVICE KIND DIR ADDR PORT OLD (tests/e2e/upgrade-node)\n')
            for n in self.nodes:
                for s in SERVICES:
                    f.write('%s %s %s %s %s %d %s\n' % (n.name, s.name, s.kind, n.svc_dir[s.name],
                                                         n.addr, s.port, s.old or '-'))
        log('%d API directories set up in %.1fs' % (len(jobs), time.monotonic() - t))
        t = time.monotonic()
        parallel(lambda n: self.upgrade(n, ['all'], 'old'), self.nodes)
        log('%d APIs started at the old release in %.1fs (nova-api %s, placement-api %s, '
            'glance-api)' % (len(jobs), time.monotonic() - t, SVC['nova-api'].old,
                             SVC['placement-api'].old))
        for n in self.nodes:
            common = dict(interval_ms=500, timeout_ms=450, connect_timeout_ms=400, rise=2, fall=2,
                          rise_interval_ms=100, maintenance_interval_ms=100)
            services = []
            for s in SERVICES:
                e = dict(name=s.name, probe=s.probe['probe'],
                         url='http://%s:%d%s' % (n.addr, s.port, s.probe['path']),
                         drain_ports=[s.port], **common)
                if 'version_path' in s.probe:
                    e['version_path'] = s.probe['version_path']
                services.append(e)
            n.agent = Agent(workdir=os.path.join(n.dir, 'agent'), addr=n.addr, name=n.name,
                            settings={'drain': {'local': [n.addr], 'from': list(LB_SOURCES),
                                                'settle_ms': 1500, 'interval_ms': 100},
                                      'flag': {'poll_interval_ms': 1000},
                                      'log': {'level': 'info'}},
                            extra_text=services_text(services), start=False)
            n.agent.start()
        self.fe_ports = [{s.name: free_port('127.0.0.1') for s in SERVICES} for _ in (1, 2)]

    def service_status(self, n):
        return {s['name']: s for s in n.agent.status()['services']}

    def releases(self, since=None):
        return {n.name: {s.name: n.release(s, since) for s in SERVICES} for n in self.nodes}

    def stop_lbs(self):
        for lb in self.lbs:
            lb.stop()
        self.lbs = []

    def start_lbs(self, workdir, agent_check):
        self.stop_lbs()
        for j in (1, 2):
            backends = collections.OrderedDict(
                (s.name, [dict(name=n.name, addr=n.addr, port=s.port, weight=100,
                               agent_port=n.agent.port if agent_check else None,
                               agent_send=s.name + '\n' if agent_check else None)
                          for n in self.nodes]) for s in SERVICES)
            lb = CPHAProxy(workdir, backends, self.fe_ports[j - 1], name='lb%d' % j,
                           agent_inter_ms=500, check=True, check_inter_ms=500, mode='http',
                           extra_defaults=['source %s' % LB_SOURCES[j - 1]])
            lb.start()
            self.lbs.append(lb)

    def all_up(self, lbs=None, pairs=None):
        """Every (backend, server) of PAIRS (default: all) UP with weight 100 on every LB."""
        for lb in lbs or self.lbs:
            rows = lb.server_rows()
            for key in pairs or rows:
                r = rows.get(key)
                if r is None or base_status(r['status']) != 'UP' or r['weight'] != '100':
                    return False
        return True

    def reset(self, workdir, agent_check):
        """Every microversioned service of every node at the old release (glance-api running),
        healthy, no flag; the LBs restarted with the scenario's config; every server UP with
        weight 100 on both."""
        self.stop_lbs()
        for n in self.nodes:
            sts = self.service_status(n)
            if any(s['flag']['active'] for s in sts.values()):
                n.agent.cli('--maintenance', 'off')
                for name in sts:
                    n.agent.cli('--maintenance', 'off', '--service', name)
        # glance-api's releases are the same code: one left at 'new' by the last scenario is not
        # restarted (the end check wants every API restarted during the rollout, glance-api too)
        stale = {n.name: [s.name for s in SERVICES if n.release(s) not in
                          (('old',) if s.microversioned else ('old', 'new'))] for n in self.nodes}
        todo = [n for n in self.nodes if stale[n.name]]
        if todo:
            t = time.monotonic()
            parallel(lambda n: self.upgrade(n, stale[n.name], 'old'), todo)
            log('reset %s to the old release in %.1fs' % (
                ', '.join('%s %s' % (n.name, '+'.join(stale[n.name])) for n in todo),
                time.monotonic() - t))

        def healthy_old(n):
            sts = self.service_status(n)
            for s in SERVICES:
                x = sts[s.name]
                if x['health']['state'] != 'up' or x['flag']['active']:
                    return False
                if s.microversioned and x['health'].get('version') != s.old:
                    return False
            return True
        for n in self.nodes:
            wait_until(lambda: healthy_old(n), timeout=60, interval=0.1,
                       message=lambda: '%s agent: every service healthy at the old release, no '
                       'flag (%s)' % (n.name, {k: (v['health']['state'], v['health'].get('version'),
                                                   v['flag']['active'])
                                               for k, v in self.service_status(n).items()}))
        self.start_lbs(workdir, agent_check)
        wait_until(self.all_up, timeout=60, interval=0.1,
                   message='every server UP with weight 100 on both LBs')

    def stop(self):
        self.stop_lbs()
        for n in self.nodes:
            if n.agent is not None:
                n.agent.stop()
        # an upgrade-node still running (the coordinator was interrupted) would start an API
        # after we stopped them: let it end first
        try:
            wait_until(lambda: not e2e.pids_with_args([UPGRADE_NODE, self.map_path]), timeout=60,
                       interval=0.2)
        except AssertionError:
            for pid in e2e.pids_with_args([UPGRADE_NODE, self.map_path]):
                os.kill(pid, signal.SIGKILL)
        parallel(lambda nd: reap(nd[0], nd[1]),
                 [(n.svc_dir[s.name], s.kind) for n in self.nodes for s in SERVICES])


# ------------------------------------------------------------------ scenarios

Scenario = collections.namedtuple('Scenario', 'name fn agent_check coordinator cutover doc')
SCENARIOS = collections.OrderedDict()


def scenario(name, agent_check, coordinator=False, cutover=False):
    """Register fn(ctx). AGENT_CHECK: the servers are agent-checked by the agents. COORDINATOR:
    zdu-coordinator runs it (its exit status is checked, its step shares reported). CUTOVER:
    nova-api and placement-api must show no 406 and no version regression."""
    def deco(fn):
        SCENARIOS[name] = Scenario(name, fn, agent_check, coordinator, cutover,
                                   ' '.join((fn.__doc__ or '').split()))
        return fn
    return deco


class Ctx:
    def __init__(self, cluster, st, workdir):
        self.cluster, self.st, self.dir = cluster, st, workdir
        self.nodes, self.lbs = cluster.nodes, cluster.lbs
        self.marks = []
        self.spans = {}          # service -> [start, end] (epoch), the service's own part
        self.cmd_s = 0.0         # time in upgrade commands (cp-manual; the coordinator's: events)
        self.info = {}

    def mark(self, what):
        self.marks.append([round(time.time(), 3), what])
        log('  %s' % what)

    def wait(self, pred, what, timeout=120):
        return wait_until(pred, timeout=timeout, interval=0.1, message=what)

    def write_plan(self, unit, strategy='rolling', cutover_services=()):
        """The plan of /work/notes/plan-services-spec.md: UNIT "service" or "node", the plan's
        STRATEGY, and CUTOVER_SERVICES cut over (unit = "service")."""
        t = dict(drain_ms=60000, upgrade_ms=240000, health_ms=60000, up_ms=60000,
                 poll_ms=int(os.environ.get('ZDU_E2E_CP_POLL_MS', '100')),
                 request_ms=3000)
        cmd = '%s %s {node} %s' % (UPGRADE_NODE, self.cluster.map_path,
                                   '{service}' if unit == 'service' else '{services}')
        q = e2e.libconfig_str
        lines = ['unit = %s;' % q(unit), 'strategy = %s;' % q(strategy), 'min_ready = 1;',
                 'upgrade_command = %s;' % q(cmd),
                 'journal = %s;' % q(os.path.join(self.dir, 'journal')),
                 'timeouts: { %s };' % ' '.join('%s = %d;' % kv for kv in t.items()),
                 'load_balancers = (\n  %s\n);' % ',\n  '.join(
                     '{ name = "%s"; runtime = %s; }' % (lb.name, q('unix:' + lb.sock_path))
                     for lb in self.lbs)]
        svcs = []
        for s in SERVICES:
            kv = ['name = %s;' % q(s.name), 'backend = %s;' % q(s.name)]
            if s.new:
                kv.append('expect_version = %s;' % q(s.new))
            if s.name in cutover_services:
                kv.append('strategy = "cutover";')
            svcs.append('{ %s }' % ' '.join(kv))
        lines.append('services = (\n  %s\n);' % ',\n  '.join(svcs))
        lines.append('nodes = (\n  %s\n);' % ',\n  '.join(
            '{ name = "%s"; server = "%s"; agent = %s; }'
            % (n.name, n.name, q('unix:' + n.agent.sock_path)) for n in self.nodes))
        path = os.path.join(self.dir, 'plan.conf')
        with open(path, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        return path

    def coordinator(self, plan, timeout=900):
        """zdu-coordinator --plan PLAN --json; events kept in DIR/coordinator.jsonl, the main
        ones logged (with the service). Raises on a non-zero exit."""
        def show(ev):
            if ev.get('event') in ('ok', 'fail', 'done', 'next') and \
                    ev.get('step') not in ('wait-drained', 'switch', 'preflight') or \
                    ev.get('event') == 'fail' or \
                    (ev.get('step') == 'upgrade' and ev.get('event') == 'start'):
                who = ev.get('service') or ','.join(ev.get('services') or []) or '-'
                return 'coordinator %s %s %s %s: %s' % (who, ev.get('node') or '-', ev.get('step') or '-',
                                                        ev.get('event'), ev.get('message', '')[:120])
            return None
        e2e.run_coordinator(self, plan, show, timeout)


@scenario('cp-manual', agent_check=False)
def cp_manual(ctx):
    """nova's guide per service, without agents: service by service, node by node: weight 0 on
    both LBs, wait scur 0, upgrade, weight 100, wait UP."""
    for s in SERVICES:
        ctx.spans[s.name] = [time.time(), None]
        for n in ctx.nodes:
            key = (s.name, n.name)
            for lb in ctx.lbs:
                lb.set_weight_of(s.name, n.name, 0)
            ctx.wait(lambda: all(int(lb.server_rows()[key]['scur'] or 0) == 0 for lb in ctx.lbs),
                     '%s/%s scur 0 on both LBs' % key)
            t = time.monotonic()
            ctx.cluster.upgrade(n, [s.name])
            ctx.cmd_s += time.monotonic() - t
            ctx.mark('%s/%s upgraded (%.1fs)' % (s.name, n.name, time.monotonic() - t))
            for lb in ctx.lbs:
                lb.set_weight_of(s.name, n.name, 100)
            ctx.wait(lambda: ctx.cluster.all_up(pairs=[key]), '%s/%s UP weight 100 on both LBs'
                     % key)
        ctx.spans[s.name][1] = time.time()
        ctx.mark('%s: every node upgraded and back' % s.name)


MANUAL = ('cp-manual', 'cp-manual-2')


@scenario('cp-rolling', agent_check=True, coordinator=True)
def cp_rolling(ctx):
    """zdu-coordinator, unit = service, every service rolling."""
    ctx.coordinator(ctx.write_plan('service', 'rolling'))


@scenario('cp-cutover', agent_check=True, coordinator=True, cutover=True)
def cp_cutover(ctx):
    """zdu-coordinator, unit = service: nova-api and placement-api cutover, glance-api
    rolling; nova-api and placement-api must show no 406 and no version regression."""
    ctx.coordinator(ctx.write_plan('service', 'rolling',
                                   cutover_services=('nova-api', 'placement-api')))


@scenario('cp-node', agent_check=True, coordinator=True, cutover=True)
def cp_node(ctx):
    """zdu-coordinator, unit = node, strategy cutover: every service of a node drained and
    upgraded at once; nova-api and placement-api must show no 406 and no version regression."""
    ctx.coordinator(ctx.write_plan('node', 'cutover'))


@scenario('cp-manual-2', agent_check=False)
def cp_manual_2(ctx):
    """cp-manual again, last: the machine's pace drifts over a run (the upgrade commands' own
    time moved by up to 20 % from one scenario to the next), so the ratios are taken against
    the mean of the two manual runs, which bracket the others."""
    cp_manual(ctx)


# ------------------------------------------------------------------ measuring

def parse_time(s):
    """The coordinator's "2026-12-07T01:17:01.578Z" -> epoch seconds."""
    return datetime.datetime.strptime(s, '%Y-%m-%dT%H:%M:%S.%fZ').replace(
        tzinfo=datetime.timezone.utc).timestamp()


def read_events(path):
    evs = []
    try:
        with open(path) as f:
            for line in f:
                try:
                    ev = json.loads(line)
                    ev['t'] = parse_time(ev['time'])
                except (ValueError, KeyError, TypeError):
                    continue
                evs.append(ev)
    except OSError:
        pass
    return evs


def step_shares(evs, wall):
    """{kind: seconds} and {kind: % of WALL} from the coordinator's events: the time up to each
    event counts for that event's step (the steps of one run follow each other; the time
    before the first event and after the last, the program's start and end, is 'other')."""
    secs = collections.OrderedDict((k, 0.0) for k in STEP_KINDS)
    kind_of = {step: k for k, steps in STEP_KINDS.items() for step in steps}
    for a, b in zip(evs, evs[1:]):
        secs[kind_of.get(b.get('step'), 'other')] += max(0.0, b['t'] - a['t'])
    counted = sum(secs.values())
    secs['other'] += max(0.0, wall - counted)
    pct = collections.OrderedDict((k, round(100.0 * v / wall, 1) if wall > 0 else 0.0)
                                  for k, v in secs.items())
    return collections.OrderedDict((k, round(v, 2)) for k, v in secs.items()), pct


def upgrade_command_s(evs):
    """Seconds spent in upgrade commands: from each upgrade 'start' event to its node's next
    upgrade 'ok' or 'fail'."""
    total, started = 0.0, {}
    for ev in evs:
        if ev.get('step') != 'upgrade':
            continue
        key = ev.get('node')
        if ev.get('event') == 'start':
            started[key] = ev['t']
        elif ev.get('event') in ('ok', 'fail') and key in started:
            total += ev['t'] - started.pop(key)
    return total


def service_spans(evs):
    """{service: seconds from its first event to its last} (unit = service: events name their
    service; unit = node: a node's events name its services)."""
    first, last = {}, {}
    for ev in evs:
        names = [ev['service']] if ev.get('service') else list(ev.get('services') or [])
        for nm in names:
            first.setdefault(nm, ev['t'])
            last[nm] = ev['t']
    return {nm: round(last[nm] - first[nm], 1) for nm in first}


# The parts whose CPU time a scenario adds up (by the process's command name), the rest "other".
CPU_PARTS = (('apis', ('uwsgi', 'nova-api', 'placement-api', 'glance-api')),
             ('haproxy', ('haproxy',)), ('agents', ('zdu-agent',)),
             ('coordinator', ('zdu-coordinator',)), ('python', ('python3', 'python')))


def cpu_part(comm):
    for part, names in CPU_PARTS:
        if comm in names or any(comm.startswith(n) for n in names if len(n) > 4):
            return part
    return 'other'


def proc_cpu():
    """{(pid, start time): (command name, utime + stime in jiffies)} of every process now."""
    out = {}
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % pid) as f:
                st = f.read()
        except OSError:
            continue
        comm = st[st.find('(') + 1:st.rfind(')')]
        v = st[st.rfind(')') + 2:].split()
        # fields 14, 15 (utime, stime) and 22 (starttime) of proc(5), counted from 3 here
        out[(pid, v[19])] = (comm, int(v[11]) + int(v[12]))
    return out


class Machine(threading.Thread):
    """The 1-minute load average (each second), the share of CPU time not idle, and the CPU time
    of each part (CPU_PARTS) over the scenario: every process sampled each second, so one that
    ends in between (an API's old workers) counts up to its last sample."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stopping = threading.Event()
        self.load = [e2e.loadavg1()]
        self.cpu0 = e2e.cpu_times()
        self.proc0 = proc_cpu()
        self.proc = dict(self.proc0)
        self.series = []         # [epoch, {part: jiffies in the second before}]

    def parts(self):
        parts = collections.OrderedDict((p, 0) for p, _ in CPU_PARTS + (('other', ()),))
        for key, (comm, j) in self.proc.items():
            parts[cpu_part(comm)] += j - self.proc0.get(key, (comm, 0))[1]
        return parts

    def run(self):
        last = self.parts()
        while not self.stopping.wait(1.0):
            self.load.append(e2e.loadavg1())
            self.proc.update(proc_cpu())
            now = self.parts()
            self.series.append([round(time.time(), 1), {p: now[p] - last[p] for p in now}])
            last = now

    def stop(self):
        self.stopping.set()
        self.join(5)
        self.proc.update(proc_cpu())
        b0, t0 = self.cpu0
        b1, t1 = e2e.cpu_times()
        hz = os.sysconf('SC_CLK_TCK')
        parts = self.parts()
        return dict(cpu_series=self.series, loadavg_start=self.load[0], loadavg_max=max(self.load),
                    cpu_busy_pct=round(100.0 * (b1 - b0) / max(1, t1 - t0), 1),
                    cpu_s=collections.OrderedDict((p, round(j / hz, 1)) for p, j in parts.items()))


def run_scenario(cl, st, sc):
    d = os.path.join(st.workdir, sc.name)
    os.makedirs(d, exist_ok=True)
    log('== %s: %s' % (sc.name, sc.doc))
    t_scenario = time.monotonic()
    t = time.monotonic()
    cl.reset(d, sc.agent_check)
    ctx = Ctx(cl, st, d)
    log('  cluster ready in %.1fs (%s agent-check)' % (time.monotonic() - t,
                                                       'with' if sc.agent_check else 'no'))
    machine = Machine()
    machine.start()
    error = None
    wall = 0.0
    gens = {}
    try:
        for s in SERVICES:
            gens[s.name] = Proc([PY, LOADGEN, '--api', s.kind, '--url', 'http://127.0.0.1:%d'
                                 % cl.fe_ports[0][s.name], '--rate', st.rate, '--streams',
                                 st.streams, '--procs', 1,
                                 '--records', os.path.join(d, 'records-%s.jsonl' % s.name),
                                 '--summary', os.path.join(d, 'load-%s.json' % s.name)],
                                os.path.join(d, 'loadgen-%s.log' % s.name))
        time.sleep(st.pre_s)
        ctx.mark('rollout start')
        t0 = time.monotonic()
        t0_epoch = time.time()
        try:
            sc.fn(ctx)
        except Exception:  # noqa: B902 - reported in the row
            error = traceback.format_exc()
            log(error)
        wall = time.monotonic() - t0
        ctx.mark('rollout end (%.1fs)' % wall)
        time.sleep(st.post_s)
    except Exception:  # noqa: B902 - the load failed to start: reported
        error = (error or '') + traceback.format_exc()
        log(error)
        t0_epoch = time.time()
    finally:
        rcs = {name: g.stop(timeout=30) for name, g in gens.items()}
        busy = machine.stop()
    evs = read_events(os.path.join(d, 'coordinator.jsonl')) if sc.coordinator else []
    spans = service_spans(evs) if sc.coordinator else {
        k: round(v[1] - v[0], 1) for k, v in ctx.spans.items() if v[1]}
    apis = collections.OrderedDict()
    problems = []
    for s in SERVICES:
        try:
            with open(os.path.join(d, 'load-%s.json' % s.name)) as f:
                load = json.load(f)
        except (OSError, ValueError) as e:
            load = {}
            problems.append('%s: loadgen (exit %s) wrote no summary: %s' % (s.name, rcs.get(s.name), e))
        a = dict(api=s.name, requests=load.get('requests', 0), failed=load.get('failed', 0),
                 n406=load.get('n406', 0), regressions=load.get('regressions', 0),
                 other_status=load.get('other_status', 0), failed_by_kind=load.get('failed_by_kind', {}),
                 status=load.get('status', {}), versions_seen=load.get('versions_seen', {}),
                 max_latency=load.get('max_latency', 0), p99_latency=load.get('p99_latency', 0),
                 rate=load.get('achieved_rate', 0), span_s=spans.get(s.name))
        apis[s.name] = a
        if not a['requests']:
            problems.append('%s: no request made' % s.name)
        if a['failed']:
            problems.append('%s: %d failed request(s) %s' % (s.name, a['failed'], a['failed_by_kind']))
        if sc.cutover and s.microversioned and (a['n406'] or a['regressions']):
            problems.append('%s: %d x 406 and %d version regression(s) in a cutover'
                            % (s.name, a['n406'], a['regressions']))
    ends = cl.releases(since=t0_epoch)
    bad_end = {nn: {k: v for k, v in per.items() if v != 'new'} for nn, per in ends.items()}
    bad_end = {k: v for k, v in bad_end.items() if v}
    if bad_end:
        problems.append('not at the new release at the end: %s' % bad_end)
    nsa = e2e.no_server_lines(cl.lbs)
    if sc.agent_check and nsa:
        problems.append('HAProxy logged "no server available" %d time(s): %s' % (len(nsa), nsa[0]))
    if sc.coordinator and ctx.info.get('coordinator_exit') != 0:
        problems.append('coordinator exit %s' % ctx.info.get('coordinator_exit'))
    if error:
        problems.insert(0, 'harness error: %s' % error.strip().splitlines()[-1])
    shares = step_shares(evs, wall) if sc.coordinator else (None, None)
    cmd_s = upgrade_command_s(evs) if sc.coordinator else ctx.cmd_s
    row = dict(scenario=sc.name, wall_s=round(wall, 1), apis=apis, end_release=ends,
               coordinator_exit=ctx.info.get('coordinator_exit'), step_s=shares[0],
               step_pct=shares[1], marks=ctx.marks, error=error, no_server=len(nsa),
               no_server_lines=nsa[:5], scenario_s=round(time.monotonic() - t_scenario, 1),
               start=t0_epoch, upgrade_cmd_s=round(cmd_s, 1), rest_s=round(wall - cmd_s, 1),
               problems=problems, ok=not problems, **busy)
    for a in apis.values():
        log('  %s %s: %d requests, %d failed %s, %d x 406, %d regressions, %d other, span %ss, '
            'max latency %.2fs, %.0f req/s' % (sc.name, a['api'], a['requests'], a['failed'],
                                               a['failed_by_kind'] or '', a['n406'], a['regressions'],
                                               a['other_status'], a['span_s'], a['max_latency'],
                                               a['rate']))
    log('  %s: wall %.1fs%s; load average %.2f..%.2f, CPU %.0f%% busy; scenario %.0fs in all%s' % (
        sc.name, wall, '; steps ' + fmt_shares(row['step_pct']) if row['step_pct'] else '',
        busy['loadavg_start'], busy['loadavg_max'], busy['cpu_busy_pct'], row['scenario_s'],
        '' if row['ok'] else ' -- PROBLEMS: %s' % '; '.join(problems)))
    log('  %s: CPU seconds by part: %s' % (sc.name, fmt_cpu(busy['cpu_s'])))
    return row


def fmt_cpu(cpu_s):
    return ', '.join('%s %.1f' % kv for kv in cpu_s.items())


def fmt_shares(pct):
    return ', '.join('%s %.0f%%' % (k, v) for k, v in pct.items())


def manual_wall(rows):
    """The manual procedure's wall time: the mean of cp-manual and cp-manual-2 (run first and
    last, they bracket the others) over those that ran and took time; None when neither did."""
    walls = [r['wall_s'] for r in rows if r['scenario'] in MANUAL and r['wall_s'] > 0]
    return sum(walls) / len(walls) if walls else None


def ratios(rows):
    """{scenario: wall / the manual procedure's wall} for every other scenario that ran."""
    m = manual_wall(rows)
    out = collections.OrderedDict()
    for r in rows:
        if r['scenario'] not in MANUAL:
            out[r['scenario']] = round(r['wall_s'] / m, 2) if m and r['wall_s'] > 0 else None
    return out


COLUMNS = [('scenario', 'scenario', '%s'), ('api', 'API', '%s'), ('requests', 'requests', '%d'),
           ('failed', 'failed', '%d'), ('n406', '406s', '%d'), ('regressions', 'regressions', '%d'),
           ('other_status', 'other status', '%d'), ('wall_s', 'wall (s)', '%.1f'),
           ('span_s', 'service span (s)', '%.1f'), ('p99_latency', 'p99 latency (s)', '%.3f'),
           ('max_latency', 'max latency (s)', '%.3f'), ('rate', 'req/s', '%.0f'),
           ('ok', 'check', '%s')]


def table_rows(rows):
    out = []
    for r in rows:
        for a in r['apis'].values():
            c = dict(a, scenario=r['scenario'], wall_s=r['wall_s'], ok=r['ok'])
            out.append([('ok' if c['ok'] else 'FAIL') if k == 'ok' else ('-' if c.get(k) is None else f % c[k])
                        for k, _, f in COLUMNS])
    return out


def table(rows, md=False):
    cells = [[h for _, h, _ in COLUMNS]] + table_rows(rows)
    if md:
        out = ['| ' + ' | '.join(cells[0]) + ' |', '|' + '---|' * len(COLUMNS)]
        return '\n'.join(out + ['| ' + ' | '.join(c) + ' |' for c in cells[1:]])
    w = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    return '\n'.join('  '.join(c[i].rjust(w[i]) if i > 1 else c[i].ljust(w[i]) for i in range(len(c)))
                     for c in cells)


def summary_lines(rows):
    """The ratios and the step shares, as printed under the table."""
    lines = []
    by = {r['scenario']: r for r in rows}
    ran = [n for n in MANUAL if n in by and by[n]['wall_s'] > 0]
    if ran:
        lines.append('the manual procedure: %s' % (
            '%.1f s, the mean of %s' % (manual_wall(rows), ' and '.join(
                '%s %.1f s' % (n, by[n]['wall_s']) for n in ran)) if len(ran) > 1
            else '%s %.1f s' % (ran[0], by[ran[0]]['wall_s'])))
    for name, v in ratios(rows).items():
        goal = GOALS.get(name)
        failed = [n for n in (name,) + MANUAL if n in by and not by[n]['ok']]
        if v is None:
            note = ''
        elif failed:
            note = ' (%s FAILED: not a measure)' % ' and '.join(failed)
        elif goal is not None:
            note = ' (issue 18 goal <= %.1f: %s)' % (goal, 'met' if v <= goal else 'not met')
        else:
            note = ''
        lines.append('wall-time ratio %s/manual: %s%s' % (
            name, 'MISSING (cp-manual did not run or took no time)' if v is None else '%.2f' % v,
            note))
    if rows:
        # the commands' own time varies with the machine from one scenario to the next; what
        # each way of upgrading adds around them does not
        lines.append('outside the upgrade commands: %s' % ', '.join(
            '%s %.1f s of %.1f s' % (r['scenario'], r['rest_s'], r['wall_s']) for r in rows))
    for r in rows:
        if r.get('step_pct'):
            lines.append('step shares %s (of %.1f s): %s' % (r['scenario'], r['wall_s'],
                                                             fmt_shares(r['step_pct'])))
    return lines


def ratio_problems(rows):
    """The ratios must be in the table when cp-rolling or cp-cutover ran."""
    r = ratios(rows)
    return ['the wall-time ratio %s/manual is missing from the table' % n
            for n in ('cp-rolling', 'cp-cutover') if n in r and r[n] is None]


def write_results(st, rows, meta):
    os.makedirs(st.outdir, exist_ok=True)
    with open(os.path.join(st.outdir, 'results.json'), 'w') as f:
        json.dump(dict(meta, scenarios=rows, ratios=ratios(rows)), f, indent=1)
    lines = ['# zdu end-to-end control-plane results', '',
             '%s; on each of 3 nodes nova-api %s -> %s, placement-api %s -> %s, glance-api '
             '(health only); one zdu-agent per node, 2 HAProxy; load %.0f req/s per API in %d '
             'streams through lb1; machine load average at start %s.' % (
                 meta['date'], SVC['nova-api'].old, SVC['nova-api'].new, SVC['placement-api'].old,
                 SVC['placement-api'].new, st.rate, st.streams, meta['loadavg']), '',
             table(rows, md=True), '']
    lines += ['- ' + x for x in summary_lines(rows)]
    for r in rows:
        lines.append('- %s: load average %.2f at the start, %.2f at most, CPU %.0f%% busy (seconds: %s); '
                     'scenario %.0f s with its reset%s' % (
                         r['scenario'], r['loadavg_start'], r['loadavg_max'], r['cpu_busy_pct'],
                         fmt_cpu(r.get('cpu_s', {})),
                         r['scenario_s'], '' if r['ok'] else '; problems: ' + '; '.join(r['problems'])))
    if meta.get('total_s'):
        lines.append('- whole run: %.0f s (setup %.0f s)' % (meta['total_s'], meta['setup_s']))
    with open(os.path.join(st.outdir, 'results.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')


def cleanup(cl):
    e2e.end_children()
    if cl is not None:
        cl.stop()


def main(argv):
    names = argv or list(SCENARIOS)
    if names == ['cp']:
        names = list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print('unknown scenario(s) %s; known: %s' % (' '.join(unknown), ' '.join(SCENARIOS)))
        return 2
    st = Settings()
    e2e.raise_on_signals()
    if os.environ.get('ZDU_E2E_DEPS_DONE') != '1':
        from apilib import ensure_packages_or_skip
        ensure_packages_or_skip()
    lockf = e2e.take_lock()   # held until the process ends
    if lockf is None:
        return 1
    log('zdu-agent %s, zdu-coordinator %s' % (agent_binary(), e2e.coordinator_binary()))
    log('work dir %s; scenarios: %s' % (st.workdir, ' '.join(names)))
    cl = None
    rows = []
    meta = dict(date=time.strftime('%Y-%m-%d %H:%M:%S %z'),
                loadavg=open('/proc/loadavg').read().split()[0], rate_per_api=st.rate,
                streams_per_api=st.streams, nodes=st.addrs,
                releases={s.name: [s.old, s.new] for s in SERVICES})
    try:
        for i, a in enumerate(st.addrs):
            for s in SERVICES:
                if reap(os.path.join(st.workdir, 'node%d' % (i + 1), s.name), s.kind):
                    log('killed a stale uwsgi of a previous run (node%d %s)' % (i + 1, s.name))
        shutil.rmtree(st.workdir, ignore_errors=True)
        os.makedirs(st.workdir)
        cl = Cluster(st)
        cl.setup()
        meta['setup_s'] = round(time.monotonic() - e2e.T0, 1)
        for name in names:
            rows.append(run_scenario(cl, st, SCENARIOS[name]))
            write_results(st, rows, meta)
    except KeyboardInterrupt as e:
        log('interrupted (%s): cleaning up' % (e or 'Ctrl-C'))
        cleanup(cl)
        return 130
    except Exception:  # noqa: B902
        traceback.print_exc()
        cleanup(cl)
        return 1
    cleanup(cl)
    meta['total_s'] = round(time.monotonic() - e2e.T0, 1)
    global_problems = ratio_problems(rows)
    meta['problems'] = global_problems
    write_results(st, rows, meta)
    print()
    print(table(rows))
    print()
    for x in summary_lines(rows):
        print(x)
    print()
    print('results: %s/results.md, %s/results.json; total %.0fs (setup %.0fs)' % (
        st.outdir, st.outdir, meta['total_s'], meta['setup_s']))
    bad = [r for r in rows if not r['ok']]
    for r in bad:
        print('FAIL %s: %s' % (r['scenario'], '; '.join(r['problems'])))
    for p in global_problems:
        print('FAIL: %s' % p)
    ok = not bad and not global_problems
    print('PASS' if ok else 'FAIL')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
