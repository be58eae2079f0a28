#!/usr/bin/python3
"""End-to-end proof: rolling upgrades of three REAL nova-api nodes behind two REAL HAProxy 2.6
load balancers, under client load, compared scenario by scenario.

    tests/e2e/run [SCENARIO...]          # all scenarios, or those named (see SCENARIOS below)
    ZDU_AGENT=... /usr/bin/python3 tests/e2e/upgrade.py [SCENARIO...]

The cluster (loopback only, started and stopped here):
  * node1..node3: nova-api (tests/nova/nova-node: Debian's python3-nova under uwsgi) on
    127.0.0.11..13:8774. Old release = MAX_VERSION 2.90, new release = stock (2.93 on Debian 12,
    2.100 on Debian 13). Each has a
    zdu-agent (probe every 500 ms, rise 2 at 100 ms (rise_interval_ms), every 100 ms while
    flagged (maintenance_interval_ms), fall 2; drain.ports [8774] counted every 100 ms, settle
    1500 ms).
  * lb1, lb2: HAProxy, frontends on 127.0.0.1 (free ports), backend nova-api, roundrobin,
    `option http-server-close`, servers `weight 100 check inter 500` (+ `agent-check agent-inter
    500ms` for the scenarios that use the agents). On one machine the three nodes share port 8774,
    so each agent counts only connections to its own node's address (drain.local).
  * load (tests/e2e/loadgen.py) through lb1 only, from PRE seconds before the scenario's action
    to POST seconds after it.

Each scenario starts from all three nodes at 2.90, restarts the load balancers with its config
and waits until every server is UP; its result row: requests, failed (connect errors, resets,
timeouts, 5xx), 406s, version regressions, rollout wall time, max/p99 latency, achieved rate.
The table is printed and written to $ZDU_BUILD_DIR/e2e/results.{json,md}; the work directory
(logs, per-request records, coordinator output) is $ZDU_BUILD_DIR/e2e/work.

Exit status: 0 when every check of the scenarios that ran holds (steady: nothing non-zero;
naive: some failed request; zdu: no failed request and the coordinator succeeded; cutover:
no failed request, 406 or version regression and the coordinator succeeded; zdu-busy and
cutover-busy: the same as zdu and cutover with the CPU hog beside them, which must have run
throughout; any scenario with agent-check: neither load balancer logged "no server available";
any scenario: no harness error and the nodes end at the expected release); 1 otherwise; 77 when
nova-api cannot be installed.

The busy scenarios (issue 15: the proof must not depend on a quiet machine) start Debian's
stress-ng once the cluster is ready, before the load:
    stress-ng --cpu HOG_CPUS --cpu-load HOG_LOAD --timeout HOG_MAX_S
(2 workers, each busy HOG_LOAD % of the time: by default two CPU hogs that never sleep, at nice 0
like everything else here, in their own process group). It is stopped after the load, killed
(its group) on every exit path, dies with the harness (PR_SET_PDEATHSIG; stress-ng's workers die
with it) and ends by itself after HOG_MAX_S in any case. A scenario whose hog ended before its
load did fails. The rate the 24 closed-loop streams achieve falls with the machine's speed.

In every scenario a sampler records, from 1 s before the hog/load to their end: the 1-minute load
average (each second), the share of CPU time not idle (/proc/stat), every agent probe (latency,
class and whether its node was up before it, from each agent's status every 0.25 s) and the
agents' reply weights; the row has their summary (load avg at the start and at most, CPU busy %,
slow and failed probes, p50/p95/max latency of the probes of up nodes, the lowest weight an up,
serving node replied), and the version document's latency as the clients saw it through lb1
(from the load's records).

The real release upgrade (issue 20), scenarios release-rolling and release-cutover, run only
when named: Debian 12's nova-api (Zed, stock 2.93) replaced by Debian 13's (2025.1, 2.100) run
from the trixie root (tests/lib/trixie-root build nova, once), lb1 (the load) HAProxy 3.0 and
lb2 HAProxy 2.6. Rolling must show no failed request; cutover 0 failed, 0 x 406, 0 regressions.

Adding a scenario: a function taking a Ctx, decorated with @scenario(name, agent_check=...,
check=...). Ctx gives .cluster, .nodes, .lbs, .upgrade(node), .wait(...), .mark(text),
.coordinator(plan) and .write_plan(**overrides).

Environment: ZDU_E2E_SCENARIOS (the scenarios when none is named; CTest's e2e_rollout sets it),
ZDU_E2E_RATE (300), ZDU_E2E_STREAMS (24), ZDU_E2E_PROCS (3), ZDU_E2E_PRE_S (5),
ZDU_E2E_POST_S (5), ZDU_E2E_STEADY_S (30), ZDU_E2E_ADDRS ("127.0.0.11 127.0.0.12 127.0.0.13"),
ZDU_E2E_DEPS_DONE=1 (skip tests/nova/install-deps), ZDU_E2E_DIR (default $ZDU_BUILD_DIR/e2e),
ZDU_E2E_HOG_CPUS (2), ZDU_E2E_HOG_LOAD (100), ZDU_E2E_HOG_MAX_S (300), ZDU_E2E_DEAD_AFTER_MS
(unset: the agent's default probe.dead_after_ms; 0 gives the behaviour before issue 15, every slow
probe a failure: the busy scenarios' control, which must then fail).
"""

import collections
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.environ.get('ZDU_SOURCE_DIR') or os.path.join(HERE, '..', '..'))
sys.path.insert(0, os.path.join(SRC, 'tests', 'lib'))

from agentlib import Agent, agent_binary  # noqa: E402
from haproxy import HAProxy, base_status  # noqa: E402
from probelib import installed_nova_max  # noqa: E402
from testutil import Proc, _pdeathsig_preexec, free_port, parallel, wait_until  # noqa: E402

PY = '/usr/bin/python3'
NOVA_NODE = os.path.join(SRC, 'tests', 'nova', 'nova-node')
INSTALL_DEPS = os.path.join(SRC, 'tests', 'nova', 'install-deps')
UPGRADE_NODE = os.path.join(HERE, 'upgrade-node')
LOADGEN = os.path.join(HERE, 'loadgen.py')


# the new release of the lowered-maximum scenarios: the installed nova's own maximum
OLD, NEW = '2.90', installed_nova_max()
# The real release upgrade (issue 20, scenarios release-*): Debian 12's nova-api (Zed, stock 2.93)
# replaced by Debian 13's (2025.1, 2.100), each the real code of its release under uwsgi, Debian
# 13's run from the trixie root (tests/lib/trixie-root) in NODE_DIR.debian13; lb1 (which carries
# the load) is Debian 13's HAProxy 3.0, lb2 Debian 12's 2.6: a mixed pair.
REL_OLD, REL_NEW = '2.93', '2.100'
DEBIAN13 = 'debian13'           # upgrade-node's word for "start Debian 13's nova-api"
TRIXIE_ROOT = os.path.join(SRC, 'tests', 'lib', 'trixie-root')
TRIXIE_HAPROXY = os.path.join(SRC, 'tests', 'lib', 'trixie-bin', 'haproxy')
NOVA_PORT = 8774
LOCK = '/tmp/zdu-e2e.lock'      # the node addresses and port are fixed: one run at a time
HOG_LOAD = 100                  # stress-ng --cpu-load of the busy scenarios (see the docstring)

T0 = time.monotonic()


def coordinator_binary():
    """$ZDU_COORDINATOR, else next to $ZDU_AGENT (as tests/lib/clusterlib.py)."""
    return os.environ.get('ZDU_COORDINATOR') or os.path.join(os.path.dirname(agent_binary()),
                                                             'zdu-coordinator')


def libconfig_str(s):
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"') + '"'


def log(msg):
    sys.stdout.write('[%6.1fs] %s\n' % (time.monotonic() - T0, msg))
    sys.stdout.flush()


def env_num(name, default):
    v = os.environ.get(name)
    return type(default)(v) if v else default


class Settings:
    def __init__(self):
        self.rate = env_num('ZDU_E2E_RATE', 300.0)
        self.streams = env_num('ZDU_E2E_STREAMS', 24)
        self.procs = env_num('ZDU_E2E_PROCS', 3)
        self.pre_s = env_num('ZDU_E2E_PRE_S', 5.0)
        self.post_s = env_num('ZDU_E2E_POST_S', 5.0)
        self.steady_s = env_num('ZDU_E2E_STEADY_S', 30.0)
        self.addrs = os.environ.get('ZDU_E2E_ADDRS', '127.0.0.11 127.0.0.12 127.0.0.13').split()
        self.hog_cpus = env_num('ZDU_E2E_HOG_CPUS', 2)
        self.hog_load = env_num('ZDU_E2E_HOG_LOAD', HOG_LOAD)
        self.hog_max_s = env_num('ZDU_E2E_HOG_MAX_S', 300)
        dead = os.environ.get('ZDU_E2E_DEAD_AFTER_MS', '')
        self.dead_after_ms = int(dead) if dead else None
        build = os.environ.get('ZDU_BUILD_DIR') or os.path.dirname(os.path.dirname(agent_binary()))
        self.outdir = os.path.abspath(os.environ.get('ZDU_E2E_DIR') or os.path.join(build, 'e2e'))
        self.workdir = os.path.join(self.outdir, 'work')


# ------------------------------------------------------------------ nova nodes

def run(argv, timeout=120, check=True):
    r = subprocess.run([str(a) for a in argv], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError('%s: exit %d\n%s%s' % (' '.join(map(str, argv)), r.returncode,
                                                  r.stdout[-2000:], r.stderr[-3000:]))
    return r


def pids_with_args(want):
    """Processes whose command line contains the consecutive arguments WANT."""
    pids = []
    for p in os.listdir('/proc'):
        if not p.isdigit() or int(p) == os.getpid():
            continue
        try:
            with open('/proc/%s/cmdline' % p, 'rb') as f:
                args = f.read().decode(errors='replace').split('\0')
        except OSError:
            continue
        if any(args[i:i + len(want)] == want for i in range(len(args) - len(want) + 1)):
            pids.append(int(p))
    return pids


def uwsgi_pids(node_dir):
    """Processes started by nova-node for NODE_DIR (their command line names its pidfile),
    even when the pidfile is gone (a run killed half-way)."""
    return pids_with_args(['--pidfile', os.path.join(node_dir, 'uwsgi.pid')])


def reap_node(node_dir):
    if os.path.isdir(node_dir):
        run([NOVA_NODE, 'stop', node_dir], check=False, timeout=30)
    pids = uwsgi_pids(node_dir)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return pids


def nova_version(addr, port=NOVA_PORT, timeout=3):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open('http://%s:%d/v2.1/' % (addr, port), timeout=timeout) as r:
        return json.loads(r.read())['version']['version']


class Node:
    def __init__(self, idx, addr, workdir):
        self.name = 'node%d' % idx
        self.addr = addr
        self.port = NOVA_PORT
        self.dir = os.path.join(workdir, self.name)
        self.nova_dir = os.path.join(self.dir, 'nova')
        self.agent = None


class Cluster:
    def __init__(self, st):
        self.st = st
        self.nodes = [Node(i + 1, a, st.workdir) for i, a in enumerate(st.addrs)]
        self.lbs = []
        self.lb_ports = []
        self.map_path = os.path.join(st.workdir, 'nodes.map')

    def setup(self, release=False):
        for n in self.nodes:
            os.makedirs(n.dir, exist_ok=True)
            run([NOVA_NODE, 'setup', n.nova_dir])
        if release:
            t = time.monotonic()
            # nova-node and the node directories, seen at their paths inside the root (the
            # coordinator's upgrade-node inherits it)
            os.environ['ZDU_TRIXIE_BIND'] = '%s:%s' % (os.path.join(SRC, 'tests'), self.st.workdir)
            run([TRIXIE_ROOT, 'build', 'nova'], timeout=1800)
            parallel(lambda n: run([TRIXIE_ROOT, 'run', '/bin/bash', NOVA_NODE, 'setup',
                                    n.nova_dir + '.' + DEBIAN13], timeout=300), self.nodes)
            log('Debian 13 root with nova ready, 3 Debian 13 node dirs set up in %.1fs'
                % (time.monotonic() - t))
        with open(self.map_path, 'w') as f:
            for n in self.nodes:
                f.write('%s %s %s %d\n' % (n.name, n.nova_dir, n.addr, n.port))
        t = time.monotonic()
        parallel(lambda n: self.set_release(n, OLD), self.nodes)
        log('3 nova-api nodes started at %s in %.1fs' % (OLD, time.monotonic() - t))
        if self.st.dead_after_ms is not None:
            log('agents: probe.dead_after_ms = %d (ZDU_E2E_DEAD_AFTER_MS)' % self.st.dead_after_ms)
        for n in self.nodes:
            probe = {'enabled': True, 'url': 'http://%s:%d/v2.1/' % (n.addr, n.port),
                     'interval_ms': 500, 'timeout_ms': 450, 'connect_timeout_ms': 400,
                     'rise': 2, 'fall': 2, 'rise_interval_ms': 100, 'maintenance_interval_ms': 100}
            if self.st.dead_after_ms is not None:
                probe['dead_after_ms'] = self.st.dead_after_ms
            n.agent = Agent(workdir=os.path.join(n.dir, 'agent'), addr=n.addr, name=n.name, settings={
                'probe': probe,
                'drain': {'ports': [n.port], 'local': [n.addr],
                          'settle_ms': 1500, 'interval_ms': 100},
                'flag': {'poll_interval_ms': 1000},
                'log': {'level': 'info'}})
            n.agent.start()
        self.lb_ports = [free_port('127.0.0.1'), free_port('127.0.0.1')]

    def set_release(self, n, version):
        """Stop the node's nova-api and start it as VERSION (None: the new, stock release;
        DEBIAN13: Debian 13's nova-api)."""
        args = [UPGRADE_NODE, self.map_path, n.name] + ([version] if version else [])
        return run(args, timeout=180)

    def release(self, n):
        try:
            return nova_version(n.addr)
        except (OSError, ValueError, KeyError):
            return None

    def stop_lbs(self):
        for lb in self.lbs:
            lb.stop()
        self.lbs = []

    def start_lbs(self, workdir, agent_check, mixed=False):
        self.stop_lbs()
        bins = (TRIXIE_HAPROXY, None) if mixed else (None, None)
        for j in (1, 2):
            servers = [dict(name=n.name, addr=n.addr, port=n.port, weight=100,
                            agent_port=n.agent.port if agent_check else None)
                       for n in self.nodes]
            lb = HAProxy(workdir, name='lb%d' % j, servers=servers,
                         frontend=('127.0.0.1', self.lb_ports[j - 1]), agent_inter_ms=500,
                         check=True, check_inter_ms=500, mode='http', haproxy_bin=bins[j - 1])
            lb.start()
            self.lbs.append(lb)

    def reset(self, workdir, agent_check, release=False):
        """Every node at OLD (RELEASE: Debian 12's stock REL_OLD), healthy, no flag; the load
        balancers restarted with the scenario's config (RELEASE: the mixed pair); every server UP
        with weight 100 on both."""
        start, want = (None, REL_OLD) if release else (OLD, OLD)
        self.stop_lbs()
        for n in self.nodes:
            if n.agent.status()['flag']['active']:
                n.agent.cli('--maintenance', 'off')
        stale = [n for n in self.nodes if self.release(n) != want]
        if stale:
            t = time.monotonic()
            parallel(lambda n: self.set_release(n, start), stale)
            log('reset %s to %s in %.1fs' % (' '.join(n.name for n in stale), want,
                                            time.monotonic() - t))
        for n in self.nodes:
            wait_until(lambda: (lambda s: s['health']['state'] == 'up' and s['health']['version'] == want
                                and not s['flag']['active'])(n.agent.status()),
                       timeout=30, message='%s agent: healthy at %s, no flag' % (n.name, want))
        self.start_lbs(workdir, agent_check, mixed=release)
        self.wait_all_up(timeout=30)

    def wait_all_up(self, timeout=30, nodes=None):
        def ok():
            return all(base_status(r['status']) == 'UP' and r['weight'] == '100'
                       for lb in self.lbs for n in (nodes or self.nodes) for r in [lb.server(n.name)])
        wait_until(ok, timeout=timeout, interval=0.1, message='servers UP with weight 100 on both LBs')

    def stop(self):
        self.stop_lbs()
        for n in self.nodes:
            if n.agent is not None:
                n.agent.stop()
        # An upgrade-node still running (the coordinator was interrupted; it never kills its
        # upgrade command) would start a nova-api after we stopped them: let it end first.
        try:
            wait_until(lambda: not pids_with_args([UPGRADE_NODE, self.map_path]), timeout=60,
                       interval=0.2)
        except AssertionError:
            for pid in pids_with_args([UPGRADE_NODE, self.map_path]):
                os.kill(pid, signal.SIGKILL)
        for attempt in (1, 2):
            for n in self.nodes:
                if reap_node(n.nova_dir) or reap_node(n.nova_dir + '.' + DEBIAN13):
                    log('killed leftover uwsgi of %s' % n.name)
            if attempt == 1:
                time.sleep(0.5)


# ------------------------------------------------------------------ a busy machine, measured

class Hog:
    """stress-ng --cpu CPUS --cpu-load LOAD --timeout MAX_S in its own process group, output to
    LOG. Bounded three ways: stop() (SIGTERM to the group, SIGKILL after 10 s), the harness's
    death (PR_SET_PDEATHSIG; the workers die with stress-ng) and --timeout."""

    def __init__(self, st, log_path):
        self.argv = ['stress-ng', '--cpu', str(st.hog_cpus), '--cpu-load', str(st.hog_load),
                     '--timeout', '%ds' % st.hog_max_s]
        self.log_path = log_path
        self.p = None
        self.started = self.ended = None

    def start(self):
        exe = shutil.which('stress-ng')
        if not exe:
            raise RuntimeError('stress-ng not found (tests/install-deps installs Debian\'s stress-ng)')
        with open(self.log_path, 'ab') as out:
            self.p = subprocess.Popen([exe] + self.argv[1:], stdin=subprocess.DEVNULL, stdout=out,
                                      stderr=subprocess.STDOUT, start_new_session=True,
                                      preexec_fn=_pdeathsig_preexec)
        _hogs.append(self)
        self.started = time.monotonic()
        # Running means its workers exist (the group has more than stress-ng itself).
        wait_until(lambda: self.p.poll() is not None or len(self.group()) > 1,
                   timeout=10, interval=0.05, message='stress-ng workers running')
        if self.p.poll() is not None:
            raise RuntimeError('stress-ng exited with %s at once: %s' % (self.p.returncode,
                                                                       self.log_tail()))

    def group(self):
        """Pids in the hog's process group (stress-ng and its workers)."""
        pids = []
        for p in os.listdir('/proc'):
            if p.isdigit():
                try:
                    with open('/proc/%s/stat' % p) as f:
                        fields = f.read().rsplit(')', 1)[1].split()
                except OSError:
                    continue
                if int(fields[2]) == self.p.pid and fields[0] != 'Z':
                    pids.append(int(p))
        return pids

    def alive(self):
        """Still running; the first call that sees it ended notes when (the sampler calls this
        every second)."""
        if self.p is None:
            return False
        if self.p.poll() is None:
            return True
        if self.ended is None:
            self.ended = time.monotonic()
        return False

    def stop(self):
        """End the group; returns how long the hog ran (s), or None if never started."""
        if self.p is None:
            return None
        if self.alive():
            self.ended = time.monotonic()
        for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.p.pid, sig)
            except OSError:
                pass
            try:
                self.p.wait(wait_s)
                break
            except subprocess.TimeoutExpired:
                continue
        # Workers of a stress-ng that died first (they are not our children: kill, not wait).
        for pid in self.group():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if self in _hogs:
            _hogs.remove(self)
        return (self.ended or time.monotonic()) - self.started

    def log_tail(self, n=10):
        try:
            with open(self.log_path, errors='replace') as f:
                return ''.join(f.readlines()[-n:])
        except OSError:
            return ''


def cpu_times():
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v) - idle, sum(v)


def loadavg1():
    with open('/proc/loadavg') as f:
        return float(f.read().split()[0])


def reply_weight(reply):
    """The weight of an up, serving reply ('up ready 50% #...', 'up 100%'), else None."""
    head = reply.split('#', 1)[0].split()
    if not head or head[0] != 'up' or any(w in ('drain', 'maint', 'stopped', 'down') for w in head):
        return None
    for w in head[1:]:
        if w.endswith('%') and w[:-1].isdigit():
            return int(w[:-1])
    return None


def pct(values, q):
    """The q-th percentile (nearest rank) of VALUES, or 0."""
    if not values:
        return 0
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(round(q / 100.0 * len(v) + 0.5)) - 1))]


class Sampler(threading.Thread):
    """What the machine and the agents went through during a scenario (see the docstring)."""

    def __init__(self, nodes, hog=None):
        super().__init__(daemon=True)
        self.nodes = nodes
        self.hog = hog
        self.stopping = threading.Event()
        self.load = []
        self.probes = {n.name: {} for n in nodes}     # last_unix_ms -> (latency ms, class, up before)
        self.health = {}                               # node -> health state at the last sample
        self.counts0 = {}
        self.counts1 = {}
        self.weights = []                              # (node, weight, slow?)
        self.errors = 0

    def counts(self):
        out = {}
        for n in self.nodes:
            try:
                p = n.agent.status()['probe']
                out[n.name] = (p['probes'], p['slow_probes'], p['failures'])
            except (OSError, ValueError, KeyError, TypeError):
                pass
        return out

    def start(self):
        self.counts0 = self.counts()
        self.cpu0 = cpu_times()
        self.load_start = loadavg1()
        self.t0 = time.monotonic()
        super().start()

    def run(self):
        tick = 0
        while not self.stopping.wait(0.25):
            if tick % 4 == 0:
                self.load.append(loadavg1())
                if self.hog is not None:
                    self.hog.alive()
            tick += 1
            for n in self.nodes:
                try:
                    st = n.agent.status()
                except (OSError, ValueError):
                    self.errors += 1
                    continue
                p = st.get('probe') or {}
                state = (st.get('health') or {}).get('state')
                if p.get('last_unix_ms') and p['last_unix_ms'] not in self.probes[n.name]:
                    self.probes[n.name][p['last_unix_ms']] = (p.get('last_latency_ms', 0),
                                                              p.get('last_class', ''),
                                                              self.health.get(n.name) == 'up')
                self.health[n.name] = state
                w = reply_weight(st.get('reply', ''))
                if w is not None:
                    self.weights.append((n.name, w, bool((st.get('health') or {}).get('slow'))))

    def stop(self):
        self.stopping.set()
        self.join(10)
        self.counts1 = self.counts()
        busy0, total0 = self.cpu0
        busy1, total1 = cpu_times()
        # The version document's latency on serving nodes: probes of a node that was up before
        # them (the one that took it down included), not those of a node down or starting (cut
        # at timeout_ms; uwsgi accepts connections before nova has loaded).
        lats = [ms for per in self.probes.values() for ms, _, up in per.values() if up]
        d = {name: [b - a for a, b in zip(self.counts0[name], self.counts1[name])]
             for name in self.counts0 if name in self.counts1}
        all_w = [w for _, w, _ in self.weights]
        slow_w = [w for _, w, slow in self.weights if slow]
        return dict(
            loadavg_start=round(self.load_start, 2),
            loadavg_max=round(max(self.load + [self.load_start]), 2),
            cpu_busy_pct=round(100.0 * (busy1 - busy0) / max(1, total1 - total0), 1),
            probes=sum(v[0] for v in d.values()), slow_probes=sum(v[1] for v in d.values()),
            failed_probes=sum(v[2] for v in d.values()), probes_by_node=d,
            probe_p50_s=pct(lats, 50) / 1000.0, probe_p95_s=pct(lats, 95) / 1000.0,
            probe_max_s=max(lats or [0]) / 1000.0, probes_sampled=len(lats),
            probes_over_timeout=sum(1 for x in lats if x > 450),
            min_weight=min(all_w) if all_w else None,
            min_weight_slow=min(slow_w) if slow_w else None,
            slow_replies=len(slow_w), sampler_errors=self.errors)


def doc_latency(records_path):
    """Latency (s) of the version document (GET /v2.1/) as the clients saw it through lb1."""
    lats = []
    try:
        with open(records_path) as f:
            for line in f:
                r = json.loads(line)
                if r.get('p') == '/v2.1/' and r.get('st') == 200:
                    lats.append(r['lat'])
    except (OSError, ValueError):
        pass
    return dict(doc_p50_s=round(pct(lats, 50), 3), doc_p99_s=round(pct(lats, 99), 3),
                doc_max_s=round(max(lats or [0]), 3))


def no_server_lines(lbs):
    """HAProxy's 'backend ... has no server available!' lines, from every load balancer's log."""
    return ['%s: %s' % (lb.name, ln.strip()) for lb in lbs for ln in lb.log_text().splitlines()
            if 'no server available' in ln]


# ------------------------------------------------------------------ scenarios

Scenario = collections.namedtuple('Scenario', 'name fn agent_check end_release check doc hog release')
SCENARIOS = collections.OrderedDict()


def scenario(name, agent_check, end_release=None, check=None, hog=False, release=False):
    """Register fn(ctx) as a scenario. AGENT_CHECK: the servers are agent-checked by zdu-agent.
    END_RELEASE: what every node must run afterwards (default NEW; REL_NEW with RELEASE).
    CHECK(row) -> list of problems (the run fails on any). HOG: a CPU hog (stress-ng, see the
    docstring) runs beside the load. RELEASE: the real release upgrade, Debian 12's nova-api to
    Debian 13's, under the mixed pair of load balancers (see REL_OLD)."""
    def deco(fn):
        SCENARIOS[name] = Scenario(name, fn, agent_check,
                                   end_release or (REL_NEW if release else NEW),
                                   check or (lambda r: []),
                                   ' '.join((fn.__doc__ or '').split()), hog, release)
        return fn
    return deco


def expect_clean(row):
    return ['%s = %s, want 0' % (k, row[k]) for k in ('failed', 'n406', 'regressions', 'other_status')
            if row[k]]


def expect_no_failed(row):
    return ['%d failed request(s)' % row['failed']] if row['failed'] else []


def expect_coordinator_ok(row):
    rc = row.get('coordinator_exit')
    return ['coordinator exit %s' % rc] if rc != 0 else []


class Ctx:
    def __init__(self, cluster, st, workdir, release=False):
        self.cluster, self.st, self.dir = cluster, st, workdir
        self.release = release
        self.nodes, self.lbs = cluster.nodes, cluster.lbs
        self.marks = []
        self.info = {}

    def mark(self, what):
        self.marks.append([round(time.time(), 3), what])
        log('  %s' % what)

    def upgrade(self, node):
        t = time.monotonic()
        self.cluster.set_release(node, DEBIAN13 if self.release else None)
        self.mark('%s upgraded (%.1fs)' % (node.name, time.monotonic() - t))

    def wait(self, pred, what, timeout=60):
        return wait_until(pred, timeout=timeout, interval=0.1, message=what)

    def write_plan(self, **over):
        t = dict(drain_ms=60000, upgrade_ms=120000, health_ms=60000, up_ms=60000, poll_ms=100,
                 request_ms=3000)
        t.update(over.pop('timeouts', {}))
        p = dict(backend='nova-api', upgrade_command='%s %s {node}%s' % (
                     UPGRADE_NODE, self.cluster.map_path, ' ' + DEBIAN13 if self.release else ''),
                 journal=os.path.join(self.dir, 'journal'), min_ready=1,
                 expect_version=REL_NEW if self.release else NEW)
        p.update(over)
        lines = ['%s = %s;' % (k, libconfig_str(v) if isinstance(v, str) else v) for k, v in p.items()]
        lines.append('timeouts: { %s };' % ' '.join('%s = %d;' % kv for kv in t.items()))
        lines.append('load_balancers = ( %s );' % ', '.join(
            '{ name = "%s"; runtime = %s; }' % (lb.name, libconfig_str('unix:' + lb.sock_path))
            for lb in self.lbs))
        lines.append('nodes = ( %s );' % ', '.join(
            '{ name = "%s"; server = "%s"; agent = %s; }'
            % (n.name, n.name, libconfig_str('unix:' + n.agent.sock_path)) for n in self.nodes))
        path = os.path.join(self.dir, 'plan.conf')
        with open(path, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        return path

    def coordinator(self, plan, timeout=600):
        """Run zdu-coordinator --plan PLAN --json; its events are logged (one line each) and kept
        in DIR/coordinator.jsonl. Raises on a non-zero exit."""
        def show(ev):
            if ev.get('event') in ('ok', 'fail', 'done', 'next') or \
                    (ev.get('step') == 'upgrade' and ev.get('event') == 'start'):
                return 'coordinator %s %s %s: %s' % (ev.get('node') or '-', ev.get('step') or '-',
                                                     ev.get('event'), ev.get('message', '')[:150])
            return None
        run_coordinator(self, plan, show, timeout)


@scenario('steady', agent_check=True, end_release=OLD, check=expect_clean)
def steady(ctx):
    """Control: no upgrade, the zdu configuration, the same load; must show 0 of everything."""
    time.sleep(ctx.st.steady_s)


@scenario('naive', agent_check=False,
          check=lambda r: [] if r['failed'] else ['no failed request: the harness cannot see outages'])
def naive(ctx):
    """Restart each node as the new release in turn, no draining (the next one once the
    load balancers see the previous one UP again)."""
    for n in ctx.nodes:
        ctx.upgrade(n)
        ctx.wait(lambda: all(base_status(lb.server(n.name)['status']) == 'UP' for lb in ctx.lbs),
                 '%s UP on both LBs' % n.name)
        ctx.mark('%s UP on both LBs' % n.name)


@scenario('manual', agent_check=False)
def manual(ctx):
    """Nova's guide: set weight 0 on every LB, wait until scur is 0 on all, upgrade, set weight
    100, wait until UP, next node."""
    for n in ctx.nodes:
        for lb in ctx.lbs:
            lb.set_weight(n.name, 0)
        ctx.mark('%s weight 0 on both LBs' % n.name)
        ctx.wait(lambda: all(int(lb.server(n.name)['scur'] or 0) == 0 for lb in ctx.lbs),
                 '%s scur 0 on both LBs' % n.name)
        ctx.mark('%s scur 0 on both LBs' % n.name)
        ctx.upgrade(n)
        for lb in ctx.lbs:
            lb.set_weight(n.name, 100)
        ctx.wait(lambda: all(base_status(r['status']) == 'UP' and r['weight'] == '100'
                             for lb in ctx.lbs for r in [lb.server(n.name)]),
                 '%s UP weight 100 on both LBs' % n.name)
        ctx.mark('%s UP weight 100 on both LBs' % n.name)


@scenario('zdu', agent_check=True, check=lambda r: expect_no_failed(r) + expect_coordinator_ok(r))
def zdu(ctx):
    """zdu-coordinator rolls the three nodes through their agents, on both LBs."""
    ctx.coordinator(ctx.write_plan())


@scenario('cutover', agent_check=True, check=lambda r: expect_clean(r) + expect_coordinator_ok(r))
def cutover(ctx):
    """zdu-coordinator, strategy cutover: node1 upgraded out of service, one runtime request per
    LB switches traffic to it, then node2 and node3 upgrade; must show 0 failed, 0 406s and 0
    version regressions."""
    ctx.coordinator(ctx.write_plan(strategy='cutover'))


@scenario('zdu-busy', agent_check=True, hog=True,
          check=lambda r: expect_no_failed(r) + expect_coordinator_ok(r))
def zdu_busy(ctx):
    """zdu's plan with a CPU hog (stress-ng) beside it: slow probes must not take nodes out;
    must show no failed request."""
    zdu(ctx)


@scenario('cutover-busy', agent_check=True, hog=True,
          check=lambda r: expect_clean(r) + expect_coordinator_ok(r))
def cutover_busy(ctx):
    """cutover's plan with a CPU hog (stress-ng) beside it; must show 0 failed, 0 406s and 0
    version regressions."""
    cutover(ctx)


@scenario('release-rolling', agent_check=True, release=True,
          check=lambda r: expect_no_failed(r) + expect_coordinator_ok(r))
def release_rolling(ctx):
    """The real release upgrade, rolling: zdu's plan replaces Debian 12's nova-api (Zed, 2.93) by
    Debian 13's (2025.1, 2.100) node by node, behind HAProxy 3.0 (lb1, the load) and HAProxy 2.6
    (lb2); must show no failed request."""
    zdu(ctx)


@scenario('release-cutover', agent_check=True, release=True,
          check=lambda r: expect_clean(r) + expect_coordinator_ok(r))
def release_cutover(ctx):
    """The real release upgrade with cutover's plan, Debian 12's nova-api (2.93) to Debian 13's
    (2.100), behind HAProxy 3.0 and 2.6; must show 0 failed, 0 406s and 0 version regressions."""
    cutover(ctx)


# ------------------------------------------------------------------ running

_children = []       # subprocess.Popen objects to end at exit (the coordinator)
_hogs = []           # Hog objects running (ended by run_scenario, or by cleanup())


def run_scenario(cl, st, sc):
    d = os.path.join(st.workdir, sc.name)
    os.makedirs(d, exist_ok=True)
    log('== %s: %s' % (sc.name, sc.doc))
    t_scenario = time.monotonic()
    loadavg = open('/proc/loadavg').read().split()[0]
    t = time.monotonic()
    cl.reset(d, sc.agent_check, sc.release)
    ctx = Ctx(cl, st, d, sc.release)
    log('  cluster ready in %.1fs (%s agent-check)' % (time.monotonic() - t,
                                                       'with' if sc.agent_check else 'no'))
    hog = Hog(st, os.path.join(d, 'stress-ng.log')) if sc.hog else None
    sampler = Sampler(cl.nodes, hog)
    sampler.start()
    error = None
    wall = 0.0
    hog_lived = True
    lg = None
    summary_path = os.path.join(d, 'load.json')
    records_path = os.path.join(d, 'records.jsonl')
    try:
        if hog:
            time.sleep(1)           # the sampler's 'before' figures, quiet
            hog.start()
            log('  CPU hog: %s (pid %d)' % (' '.join(hog.argv), hog.p.pid))
        lg = Proc([PY, LOADGEN, '--url', 'http://127.0.0.1:%d' % cl.lb_ports[0], '--rate', st.rate,
                   '--streams', st.streams, '--procs', st.procs,
                   '--records', records_path, '--summary', summary_path],
                  os.path.join(d, 'loadgen.log'))
        time.sleep(st.pre_s)
        ctx.mark('rollout start')
        t0 = time.monotonic()
        try:
            sc.fn(ctx)
        except Exception:  # noqa: B902 - reported in the row
            error = traceback.format_exc()
            log(error)
        wall = time.monotonic() - t0
        ctx.mark('rollout end (%.1fs)' % wall)
        time.sleep(st.post_s)
        hog_lived = hog is None or hog.alive()
    except Exception:  # noqa: B902 - the hog failed to start, or the load: reported in the row
        error = (error or '') + traceback.format_exc()
        log(error)
    finally:
        rc = lg.stop(timeout=30) if lg else None
        hog_s = hog.stop() if hog else None
        busy = sampler.stop()
    try:
        with open(summary_path) as f:
            load = json.load(f)
    except (OSError, ValueError) as e:
        load = {}
        error = (error or '') + 'loadgen (exit %s) wrote no summary: %s\n%s' % (
            rc, e, lg.log_tail() if lg else '')
    ends = {n.name: cl.release(n) for n in cl.nodes}
    nsa = no_server_lines(cl.lbs)
    row = dict(scenario=sc.name, requests=load.get('requests', 0), failed=load.get('failed', 0),
               n406=load.get('n406', 0), regressions=load.get('regressions', 0),
               other_status=load.get('other_status', 0), wall_s=round(wall, 1),
               max_latency=load.get('max_latency', 0), p99_latency=load.get('p99_latency', 0),
               rate=load.get('achieved_rate', 0), failed_by_kind=load.get('failed_by_kind', {}),
               regressed_streams=load.get('regressed_streams', 0), status=load.get('status', {}),
               end_release=ends, marks=ctx.marks, error=error, loadavg=loadavg,
               loadgen_cpu_s=load.get('loadgen_cpu_s'), no_server=len(nsa), no_server_lines=nsa[:5],
               hog=' '.join(hog.argv) if hog else None,
               hog_s=round(hog_s, 1) if hog_s is not None else None,
               dead_after_ms=st.dead_after_ms, scenario_s=round(time.monotonic() - t_scenario, 1),
               **busy, **doc_latency(records_path), **ctx.info)
    problems = []
    if error:
        problems.append('harness error: %s' % error.strip().splitlines()[-1])
    if any(v != sc.end_release for v in ends.values()):
        problems.append('nodes end at %s, want all at %s' % (ends, sc.end_release))
    if not row['requests']:
        problems.append('no request made')
    elif row['rate'] < 0.9 * st.rate:
        log('  note: achieved %.0f req/s of %.0f' % (row['rate'], st.rate))
    if hog and not hog_lived:
        problems.append('the CPU hog ended before the load (after %.0fs; --timeout %ds): %s'
                        % (hog_s or 0, st.hog_max_s, hog.log_tail(3).strip()))
    if sc.agent_check and nsa:
        problems.append('HAProxy logged "no server available" %d time(s): %s' % (len(nsa), nsa[0]))
    problems += sc.check(row)
    row['problems'] = problems
    row['ok'] = not problems
    log('  %s: %d requests, %d failed %s, %d x 406, %d regressions, wall %.1fs, max latency %.2fs, '
        '%.0f req/s%s' % (sc.name, row['requests'], row['failed'], row['failed_by_kind'] or '',
                          row['n406'], row['regressions'], row['wall_s'], row['max_latency'],
                          row['rate'], '' if row['ok'] else ' -- PROBLEMS: %s' % '; '.join(problems)))
    log('  machine: load average %.2f at the start, %.2f at most; CPU %.0f%% busy%s; '
        '"no server available" %d; scenario %.0fs in all' % (
            row['loadavg_start'], row['loadavg_max'], row['cpu_busy_pct'],
            '; hog ran %.0fs' % hog_s if hog_s is not None else '', row['no_server'],
            row['scenario_s']))
    log('  probes: %d (%d slow, %d failed), latency p50 %.3fs p95 %.3fs max %.3fs (%d of %d sampled '
        'over 450 ms); lowest weight %s (%s while slow, %d slow replies); version document via lb1 '
        'p50 %.3fs p99 %.3fs max %.3fs' % (
            row['probes'], row['slow_probes'], row['failed_probes'], row['probe_p50_s'],
            row['probe_p95_s'], row['probe_max_s'], row['probes_over_timeout'], row['probes_sampled'],
            fmt_weight(row['min_weight']), fmt_weight(row['min_weight_slow']), row['slow_replies'],
            row['doc_p50_s'], row['doc_p99_s'], row['doc_max_s']))
    return row


def fmt_weight(w):
    return '-' if w is None else '%d%%' % w


COLUMNS = [('scenario', 'scenario', '%s'), ('requests', 'requests', '%d'), ('failed', 'failed', '%d'),
           ('n406', '406s', '%d'), ('regressions', 'version regressions', '%d'),
           ('wall_s', 'rollout wall (s)', '%.1f'), ('max_latency', 'max latency (s)', '%.3f'),
           ('p99_latency', 'p99 latency (s)', '%.3f'), ('rate', 'req/s', '%.0f'),
           ('loadavg_max', 'load avg max', '%.1f'), ('cpu_busy_pct', 'CPU busy %', '%.0f'),
           ('probe_p95_s', 'probe p95 (s)', '%.2f'), ('probe_max_s', 'probe max (s)', '%.2f'),
           ('slow_probes', 'slow probes', '%d'), ('min_weight', 'lowest weight', '%d%%'),
           ('no_server', '"no server"', '%d'), ('ok', 'check', '%s')]


def cell(row, key, fmt):
    if key == 'ok':
        return 'ok' if row['ok'] else 'FAIL'
    if row.get(key) is None:
        return '-'
    return fmt % row[key]


def table(rows, md=False):
    cells = [[h for _, h, _ in COLUMNS]] + [[cell(r, k, f) for k, _, f in COLUMNS] for r in rows]
    if md:
        out = ['| ' + ' | '.join(cells[0]) + ' |', '|' + '---|' * len(COLUMNS)]
        out += ['| ' + ' | '.join(c) + ' |' for c in cells[1:]]
        return '\n'.join(out)
    w = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    return '\n'.join('  '.join(c[i].rjust(w[i]) if i else c[i].ljust(w[i]) for i in range(len(c)))
                     for c in cells)


def write_results(st, rows, meta):
    os.makedirs(st.outdir, exist_ok=True)
    with open(os.path.join(st.outdir, 'results.json'), 'w') as f:
        json.dump(dict(meta, scenarios=rows), f, indent=1)
    lines = ['# zdu end-to-end rollout results', '',
             '%s; load %.0f req/s target, %d streams through lb1; 3 real nova-api nodes %s -> %s, '
             '2 HAProxy; machine load average at start %s. Busy scenarios: `stress-ng --cpu %d '
             '--cpu-load %d` beside the load%s.' % (
                 meta['date'], st.rate, st.streams, OLD, NEW, meta['loadavg'], st.hog_cpus,
                 st.hog_load, '' if st.dead_after_ms is None else
                 '; agents with probe.dead_after_ms = %d' % st.dead_after_ms), '',
             table(rows, md=True), '']
    for r in rows:
        lines.append('- %s: load average %.2f at the start, %.2f at most, CPU %.0f%% busy%s; probes %d '
                     '(%d slow, %d failed), p50 %.3f s, p95 %.3f s, max %.3f s; lowest weight %s (%s '
                     'while slow); version document via lb1 p50 %.3f s, p99 %.3f s, max %.3f s' % (
                         r['scenario'], r['loadavg_start'], r['loadavg_max'], r['cpu_busy_pct'],
                         ', hog %.0f s' % r['hog_s'] if r.get('hog_s') is not None else '',
                         r['probes'], r['slow_probes'], r['failed_probes'], r['probe_p50_s'],
                         r['probe_p95_s'], r['probe_max_s'], fmt_weight(r['min_weight']),
                         fmt_weight(r['min_weight_slow']), r['doc_p50_s'], r['doc_p99_s'],
                         r['doc_max_s']))
    for r in rows:
        if r['failed_by_kind'] or r['problems']:
            lines.append('- %s: failures by kind %s%s' % (r['scenario'], r['failed_by_kind'] or '{}',
                                                          '; problems: ' + '; '.join(r['problems'])
                                                          if r['problems'] else ''))
    with open(os.path.join(st.outdir, 'results.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')


def install_deps():
    if os.environ.get('ZDU_E2E_DEPS_DONE') == '1':
        return
    r = subprocess.run([INSTALL_DEPS], capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        have = subprocess.run([PY, '-c', 'import nova.api.openstack.compute.wsgi'],
                              capture_output=True).returncode == 0
        if not have:
            print('SKIP: python3-nova cannot be installed:\n%s%s' % (r.stdout[-2000:],
                                                                     r.stderr[-2000:]))
            sys.exit(77)


def run_coordinator(ctx, plan, show, timeout):
    """zdu-coordinator --plan PLAN --json for scenario context CTX (its .dir, .mark, .info),
    ended after TIMEOUT seconds and with the harness: every line kept in CTX.dir/coordinator.jsonl,
    a line that is not JSON marked, and each event SHOW(event) turns into text marked. Raises on a
    non-zero exit (also controlplane.py's)."""
    out_path = os.path.join(ctx.dir, 'coordinator.jsonl')
    argv = [coordinator_binary(), '--plan', plan, '--json']
    with open(out_path, 'w') as out:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True,
                             preexec_fn=_pdeathsig_preexec)   # dies with the harness
        _children.append(p)
        killer = threading.Timer(timeout, p.terminate)   # also when it says nothing
        killer.start()
        try:
            for line in p.stdout:
                out.write(line)
                try:
                    ev = json.loads(line)
                except ValueError:
                    ctx.mark('coordinator: %s' % line.rstrip())
                    continue
                text = show(ev)
                if text:
                    ctx.mark(text)
            rc = p.wait(30)
        finally:
            killer.cancel()
            if p.poll() is None:
                p.kill()
                p.wait()
            _children.remove(p)
    ctx.info['coordinator_exit'] = rc
    if rc != 0:
        raise RuntimeError('zdu-coordinator exited with %d (see %s)' % (rc, out_path))


def end_children():
    """Every child still running (a coordinator) ended: SIGTERM, SIGKILL 15 s later."""
    for p in list(_children):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()


def raise_on_signals():
    """SIGTERM and SIGHUP end a run as Ctrl-C does: through its cleanup."""
    def on_signal(signum, frame):
        raise KeyboardInterrupt('signal %d' % signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)


def take_lock():
    """The e2e lock (the node addresses are fixed: one run at a time), waited for up to 300 s:
    the open file that holds it, or None after saying why."""
    lockf = open(LOCK, 'w')
    try:
        wait_until(lambda: fcntl.flock(lockf, fcntl.LOCK_EX | fcntl.LOCK_NB) is None, timeout=300,
                   interval=1, message='the e2e lock %s (another e2e run?)' % LOCK)
    except AssertionError as e:
        print('FAIL: %s' % e)
        lockf.close()
        return None
    return lockf


def cleanup(cl):
    for h in list(_hogs):
        h.stop()
    end_children()
    if cl is not None:
        cl.stop()


def main(argv):
    # The release-* scenarios (Debian 13's nova-api from the trixie root) run when named.
    names = argv or os.environ.get('ZDU_E2E_SCENARIOS', '').split() or \
        [n for n, sc in SCENARIOS.items() if not sc.release]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print('unknown scenario(s) %s; known: %s' % (' '.join(unknown), ' '.join(SCENARIOS)))
        return 2
    st = Settings()
    raise_on_signals()
    install_deps()
    lockf = take_lock()   # held until the process ends
    if lockf is None:
        return 1
    log('zdu-agent %s, zdu-coordinator %s' % (agent_binary(), coordinator_binary()))
    log('work dir %s; scenarios: %s' % (st.workdir, ' '.join(names)))
    cl = None
    rows = []
    meta = dict(date=time.strftime('%Y-%m-%d %H:%M:%S %z'), loadavg=open('/proc/loadavg').read().split()[0],
                rate=st.rate, streams=st.streams, nodes=st.addrs, old=OLD, new=NEW,
                hog='stress-ng --cpu %d --cpu-load %d --timeout %ds' % (st.hog_cpus, st.hog_load,
                                                                         st.hog_max_s),
                dead_after_ms=st.dead_after_ms)
    try:
        for a in st.addrs:
            node_dir = os.path.join(st.workdir, 'node%d' % (st.addrs.index(a) + 1), 'nova')
            if reap_node(node_dir) or reap_node(node_dir + '.' + DEBIAN13):
                log('killed a stale uwsgi of a previous run in %s' % node_dir)
        shutil.rmtree(st.workdir, ignore_errors=True)
        os.makedirs(st.workdir)
        cl = Cluster(st)
        cl.setup(release=any(SCENARIOS[n].release for n in names))
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
    meta['total_s'] = round(time.monotonic() - T0, 1)
    write_results(st, rows, meta)
    print()
    print(table(rows))
    print()
    print('results: %s/results.md, %s/results.json; total %.0fs' % (st.outdir, st.outdir,
                                                                   meta['total_s']))
    bad = [r for r in rows if not r['ok']]
    for r in bad:
        print('FAIL %s: %s' % (r['scenario'], '; '.join(r['problems'])))
    print('PASS' if not bad else 'FAIL')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
