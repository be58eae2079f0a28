#!/usr/bin/python3
"""Run a real etcd 3.4 cluster (Debian's etcd-server, /usr/bin/etcd) on loopback for tests.

Stdlib only: the KV helpers speak etcd's v3 JSON gateway (grpc-gateway, /v3/...) with
urllib; keys and values are base64 there, plain bytes here.

Quick use::

    from etcdlib import EtcdCluster, agent_etcd_settings
    from agentlib import Agent

    with EtcdCluster() as ec:                  # 3 members on 127.0.0.21-23, started, healthy
        with Agent(settings=agent_etcd_settings(ec, node='n1')) as a:
            ec.put('/zdu/maintenance/nodes/n1', 'mode=drain\\nreason=upgrade\\n')
            a.wait_reply('up drain #maintenance: upgrade')
            ec.stop_member(1)                  # SIGTERM m1 and wait for it
            ec.put('/zdu/maintenance/nodes/n1', ...)   # goes to m2 or m3
            ec.start_member(1); ec.wait_healthy()

EtcdCluster(tmpdir=None, n=3, heartbeat_ms=50, election_ms=500, etcd_bin=None, start=True,
            addrs=None)
  Members m1..mN (N <= 3 by default; see ADDRS) on ADDRS[i]:2379 (client) and :2380 (peer).
  ADDRS=[...] instead: a test's own member(s) on addresses of its own (127.0.0.24 and up; the
  lock is then /tmp/zdu-etcd.<ADDRS[0]>.lock, so it runs beside the shared cluster).
  Data dirs and logs live in ROOT, a new directory 'zdu-etcd-XXXX' made inside TMPDIR (default:
  a testutil.tempdir, removed at exit). Members are numbered from 1: member 1 is 'm1'; every
  method taking a member also accepts its name ('m2') or its client URL.
  Environment: ZDU_ETCD (the etcd binary), ZDU_ETCD_ADDRS=a,b,c (three other 127.x addresses,
  for running next to someone else's etcd), ZDU_ETCD_LOCK_TIMEOUT (s, default 170),
  ZDU_KEEP_TMP=1 (keep ROOT: data dirs and logs).
  Attributes: root, members (list of Member: index, name, addr, client_url, peer_url, data_dir,
  log_path, proc), token (the --initial-cluster-token, unique per cluster), auth_token (None, or
  the token authenticate() got).

  start(timeout=30)        take the machine-wide lock, check the addresses are free (a stale
                           etcd left by a crashed run of ours is killed; anything else on them
                           raises EtcdError naming the pid and its command line), start every
                           member and wait_healthy().  The constructor calls it unless
                           start=False; `with` stops everything.
  endpoints                client URLs of all members, ['http://127.0.0.21:2379', ...].
  live_endpoints()         client URLs of the members whose process runs.
  member(i) -> Member      i: 1-based index, 'm1' or a client URL.
  stop_member(i, timeout=10)   SIGTERM, wait (SIGKILL after TIMEOUT). Returns the exit status.
  kill_member(i)           SIGKILL, wait.
  start_member(i)          start it again with the same data dir (it rejoins; nothing waited
                           for: call wait_healthy()).
  stop_all() / start_all() every member (start_all waits until healthy).
  running(i) -> bool
  wait_healthy(timeout=20) every running member answers /health with {"health":"true"} (which
                           needs a leader and a quorum read) and a put through each works.
  close()                  SIGKILL every member; releases the lock. Idempotent; also run at
                           interpreter exit and by __exit__ (which prints the tail of every
                           member's log when the block raised).
  log_tail(i, n=20) -> str
  leader() -> int          the index of the leader, as a running member sees it (0: none).

  KV helpers (each tries the running members in turn until one answers, for up to TIMEOUT
  seconds, default 10; ENDPOINT=url or member forces one member, no retry on another):
  put(key, value, lease=0) -> revision     value: bytes or str (UTF-8)
  get(key) -> bytes | None
  get_kv(key) -> dict | None      {'key','value' (bytes),'create_revision','mod_revision',
                                   'version','lease'} (ints)
  get_prefix(prefix) -> {key(str): value(bytes)}
  delete(key) -> int              number of keys deleted
  revision() -> int               the store's current revision
  compact(revision=None, physical=True) -> int   compact up to REVISION (default: current)
  lease_grant(ttl) -> int         a lease id;  lease_revoke(lease_id);  lease_ttl(lease_id) -> int
                                  (-1: gone)
  member_status(i) -> dict        /v3/maintenance/status of member I (leader, raftIndex, ...)
  authenticate(user, password)    once etcd has authentication on: every later request (the KV
                                  helpers, wait_healthy) carries that user's token
  call(path, body, endpoint=None, timeout=10) -> dict   any gateway call (raw JSON)
  EtcdError carries .code (the gateway's gRPC code) and .http_status when etcd said no.

agent_etcd_settings(cluster, node='n1', prefix='/zdu', lease_ttl_s=3, timeout_ms=1000,
                    backoff_max_ms=500, endpoints=None, **extra) -> dict
  Agent(settings=...) for an agent using the cluster: {'etcd': {...}}.
b64(s) / unb64(s)             the gateway's base64.
gateway_error(ans) -> str | None   the message of an error answer, in etcd 3.4's shape ("error")
                              or 3.5's ("code" and "message" only), else None.
node_key(node, prefix='/zdu'), all_key(prefix), agent_key(node, prefix)   the agent's keys.
flag_value(reason=None, mode='drain', by='etcd-test') -> str   a value in the flag file format.
etcd_state(agent) -> dict     agent.status()['flag']['etcd'].
wait_etcd_state(agent, pred, what, timeout=10) -> (state, seconds)
wait_reply_alive(agent, want, timeout=10) -> (reply, seconds)   agent.wait_reply() that fails at
                              once, naming the exit status, if the daemon dies meanwhile.
ReplyRecorder(agent, interval=0.05)   a thread probing the agent's port, keeping each distinct
                              reply: .start(), .stop(), .sequence(), .changes, .errors, .probes.

One cluster at a time per machine: the addresses are fixed, so start() takes an exclusive
flock on /tmp/zdu-etcd.<first address>.lock (held until close() or exit; waits up to
ZDU_ETCD_LOCK_TIMEOUT s for another test process, printing who holds it). In CTest every etcd
test also has RESOURCE_LOCK etcd. A stale etcd is recognised as ours by ZDU_ETCD_OWNER=<pid>
in its environment (every member gets it) with that pid gone; only then is it killed.
"""

import atexit
import base64
import errno
import fcntl
import json
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from testutil import Proc, check_loopback, tempdir, wait_until

__all__ = ['EtcdCluster', 'EtcdError', 'Member', 'agent_etcd_settings', 'b64', 'unb64', 'gateway_error',
           'ADDRS', 'CLIENT_PORT', 'PEER_PORT', 'node_key', 'all_key', 'agent_key', 'flag_value',
           'etcd_state', 'wait_etcd_state', 'ReplyRecorder', 'wait_reply_alive']

ADDRS = ['127.0.0.21', '127.0.0.22', '127.0.0.23']
if os.environ.get('ZDU_ETCD_ADDRS'):
    ADDRS = [a.strip() for a in os.environ['ZDU_ETCD_ADDRS'].split(',') if a.strip()]
for _a in ADDRS:
    check_loopback(_a)
CLIENT_PORT = 2379
PEER_PORT = 2380
OWNER_ENV = 'ZDU_ETCD_OWNER'

# No proxy, whatever http_proxy says: these are loopback addresses.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class EtcdError(RuntimeError):
    """etcd refused a request, no member answered, or the cluster cannot start."""

    def __init__(self, msg, code=None, http_status=None):
        super().__init__(msg)
        self.code = code
        self.http_status = http_status


def gateway_error(ans):
    """The message of a gateway answer that is an error, else None. etcd 3.4 says
    {"error": "...", "message": "...", "code": N}; etcd 3.5 drops "error":
    {"code": N, "message": "..."} (an answer that is not an error has a "header" or "result")."""
    if not isinstance(ans, dict):
        return None
    if 'error' in ans:
        er = ans['error']
        return str(er.get('message', er) if isinstance(er, dict) else er)
    if isinstance(ans.get('code'), int) and 'message' in ans and 'header' not in ans \
            and 'result' not in ans:
        return str(ans['message'])
    return None


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode('ascii')


def unb64(s):
    return base64.b64decode(s or '')


def _key_bytes(key):
    return key.encode() if isinstance(key, str) else key


def _prefix_end(prefix):
    """etcd's range_end for 'every key starting with PREFIX'."""
    b = bytearray(_key_bytes(prefix))
    for i in range(len(b) - 1, -1, -1):
        if b[i] < 0xff:
            b[i] += 1
            return bytes(b[:i + 1])
    return b'\0'


def agent_etcd_settings(cluster, node='n1', prefix='/zdu', lease_ttl_s=3, timeout_ms=1000,
                        backoff_max_ms=500, endpoints=None, **extra):
    """Settings for agentlib.Agent(settings=...) pointing the agent at CLUSTER."""
    g = {'endpoints': list(endpoints if endpoints is not None else cluster.endpoints),
         'prefix': prefix, 'node': node, 'lease_ttl_s': lease_ttl_s, 'timeout_ms': timeout_ms,
         'backoff_max_ms': backoff_max_ms}
    g.update(extra)
    return {'etcd': g}


# ---------------------------------------------------------------- stale processes
def _hexaddr(addr, port):
    a = socket.inet_aton(addr)
    return '%08X:%04X' % (int.from_bytes(a, 'little'), port)


def _listen_inodes(addr, port):
    want = _hexaddr(addr, port)
    inodes = set()
    try:
        with open('/proc/net/tcp') as f:
            next(f)
            for line in f:
                p = line.split()
                if len(p) > 9 and p[1] == want and p[3] == '0A':   # LISTEN
                    inodes.add(p[9])
    except OSError:
        pass
    return inodes


def _pids_with_inodes(inodes):
    found = set()
    targets = {'socket:[%s]' % i for i in inodes}
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        fddir = '/proc/%s/fd' % pid
        try:
            for fd in os.listdir(fddir):
                try:
                    if os.readlink(os.path.join(fddir, fd)) in targets:
                        found.add(int(pid))
                        break
                except OSError:
                    pass
        except OSError:
            pass
    return found


def _cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return [a.decode('utf-8', 'replace') for a in f.read().split(b'\0') if a]
    except OSError:
        return []


def _environ(pid):
    try:
        with open('/proc/%d/environ' % pid, 'rb') as f:
            env = {}
            for item in f.read().split(b'\0'):
                k, _, v = item.partition(b'=')
                if k:
                    env[k.decode('utf-8', 'replace')] = v.decode('utf-8', 'replace')
            return env
    except OSError:
        return {}


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive.
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except (OSError, IndexError):
        return False


def _stale_ours(pid):
    """Why PID is a stale etcd of ours (a reason string), or None if it is not."""
    argv = _cmdline(pid)
    # etcd itself, or run by a loader (tests/lib/trixie-root in a chroot: ld.so ... /usr/bin/etcd)
    if not argv or not (os.path.basename(argv[0]) == 'etcd' or
                        (os.path.basename(argv[0]).startswith('ld-linux') and
                         any(os.path.basename(a) == 'etcd' for a in argv[1:4]))):
        return None
    owner = _environ(pid).get(OWNER_ENV)
    if not owner or not owner.isdigit():
        return None
    if _pid_alive(int(owner)) and int(owner) != os.getpid():
        return None
    return 'etcd pid %d started by test process %s, which is gone' % (pid, owner)


def _our_stale_etcds(addrs):
    """Every etcd process of ours (ZDU_ETCD_OWNER gone) whose URLs use one of ADDRS."""
    out = []
    for d in os.listdir('/proc'):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        pid = int(d)
        why = _stale_ours(pid)
        if why and any(('//%s:' % a) in ' '.join(_cmdline(pid)) for a in addrs):
            out.append((pid, why))
    return out


def _port_free(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        return True
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            return False
        raise
    finally:
        s.close()


def machine_lock(path, timeout, what):
    """A machine-wide flock on PATH (so that two build trees' ctest never run the same fixed
    addresses at once): waits up to TIMEOUT s, saying once whom it waits for; returns the fd,
    which holds the lock until closed. Raises EtcdError naming WHAT and the holder."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    t0 = time.monotonic()
    said = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode('utf-8', 'replace').strip()
            if time.monotonic() - t0 > timeout:
                os.close(fd)
                raise EtcdError('another test runs %s (lock %s held by %s) for over %.0f s'
                                % (what, path, holder or '?', timeout))
            if not said:
                print('etcdlib: waiting for the lock %s (held by %s)' % (path, holder or '?'),
                      flush=True)
                said = True
            time.sleep(0.2)
    os.ftruncate(fd, 0)
    os.pwrite(fd, ('pid %d (%s)\n' % (os.getpid(), ' '.join(sys.argv)[:150])).encode(), 0)
    return fd


def require_free(addr, port):
    """Raises EtcdError when ADDR:PORT is taken: a test that runs its own etcd there needs it."""
    if not _port_free(addr, port):
        raise EtcdError('%s:%d is in use (another etcd?): this test needs it' % (addr, port))


# ---------------------------------------------------------------- the cluster
class Member:
    def __init__(self, index, addr, root):
        self.index = index
        self.name = 'm%d' % index
        self.addr = check_loopback(addr)
        self.client_url = 'http://%s:%d' % (addr, CLIENT_PORT)
        self.peer_url = 'http://%s:%d' % (addr, PEER_PORT)
        self.data_dir = os.path.join(root, self.name + '.data')
        self.log_path = os.path.join(root, self.name + '.log')
        self.proc = None

    def running(self):
        return self.proc is not None and self.proc.alive()

    def __repr__(self):
        return '<etcd %s %s %s>' % (self.name, self.client_url,
                                    'running' if self.running() else 'stopped')


class EtcdCluster:
    instances = []

    def __init__(self, tmpdir=None, n=3, heartbeat_ms=50, election_ms=500, etcd_bin=None,
                 start=True, addrs=None):
        self.addrs = [check_loopback(a) for a in addrs] if addrs else list(ADDRS)
        if not 1 <= n <= len(self.addrs):
            raise ValueError('n must be 1..%d' % len(self.addrs))
        self.etcd_bin = etcd_bin or os.environ.get('ZDU_ETCD', '/usr/bin/etcd')
        if not os.access(self.etcd_bin, os.X_OK):
            raise EtcdError('etcd not found at %s (Debian: apt-get install etcd-server; '
                            'or set ZDU_ETCD)' % self.etcd_bin)
        parent = tmpdir or tempdir('zdu-etcd-')
        os.makedirs(parent, exist_ok=True)
        self.root = tempfile.mkdtemp(prefix='zdu-etcd-', dir=parent)
        self.heartbeat_ms = heartbeat_ms
        self.election_ms = election_ms
        self.token = 'zdu-%d-%d-%s' % (os.getpid(), int(time.time() * 1000), os.urandom(3).hex())
        self.auth_token = None
        self.members = [Member(i + 1, self.addrs[i], self.root) for i in range(n)]
        self._lock_fd = None
        self._closed = False
        self._preferred = 0
        EtcdCluster.instances.append(self)
        atexit.register(self.close)
        if start:
            try:
                self.start()
            except BaseException:
                self.close()
                raise

    # ------------------------------------------------------------ lock and stale check
    @property
    def lock_path(self):
        return '/tmp/zdu-etcd.%s.lock' % self.addrs[0]

    def _lock(self):
        if self._lock_fd is not None:
            return
        timeout = float(os.environ.get('ZDU_ETCD_LOCK_TIMEOUT', '170'))
        self._lock_fd = machine_lock(self.lock_path, timeout,
                                     'an etcd cluster on %s' % ', '.join(self.addrs))

    def _unlock(self):
        if self._lock_fd is not None:
            try:
                os.ftruncate(self._lock_fd, 0)
            except OSError:
                pass
            os.close(self._lock_fd)   # releases the flock
            self._lock_fd = None

    def _clear_addresses(self):
        """Kill stale etcds of ours on our addresses; raise if anything else holds them."""
        addrs = [m.addr for m in self.members]
        for pid, why in _our_stale_etcds(addrs):
            print('etcdlib: killing a stale %s' % why, flush=True)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for m in self.members:
            for port in (CLIENT_PORT, PEER_PORT):
                def free():
                    return _port_free(m.addr, port)
                try:
                    wait_until(free, timeout=3, interval=0.05)
                    continue
                except AssertionError:
                    pass
                pids = _pids_with_inodes(_listen_inodes(m.addr, port))
                desc = '; '.join('pid %d: %s' % (p, ' '.join(_cmdline(p))[:300])
                                 for p in sorted(pids)) or 'owner not found'
                raise EtcdError(
                    '%s:%d is already in use (%s). The etcd tests need %s (ports %d and %d) '
                    'to themselves: stop that process (or run the tests with '
                    'ZDU_ETCD_ADDRS=three,other,loopback-addresses).'
                    % (m.addr, port, desc, ', '.join(self.addrs), CLIENT_PORT, PEER_PORT))

    # ------------------------------------------------------------ processes
    def member(self, i):
        if isinstance(i, Member):
            return i
        if isinstance(i, int):
            if not 1 <= i <= len(self.members):
                raise IndexError('no member %d (members are numbered 1..%d)'
                                 % (i, len(self.members)))
            return self.members[i - 1]
        key = str(i).rstrip('/')
        for m in self.members:
            if key in (m.name, m.client_url, m.addr, '%s:%d' % (m.addr, CLIENT_PORT)):
                return m
        raise KeyError('no etcd member %r' % (i,))

    @property
    def endpoints(self):
        return [m.client_url for m in self.members]

    def live_endpoints(self):
        return [m.client_url for m in self.members if m.running()]

    def running(self, i):
        return self.member(i).running()

    def _argv(self, m):
        cluster = ','.join('%s=%s' % (x.name, x.peer_url) for x in self.members)
        return [self.etcd_bin,
                '--name', m.name,
                '--data-dir', m.data_dir,
                '--listen-client-urls', m.client_url,
                '--advertise-client-urls', m.client_url,
                '--listen-peer-urls', m.peer_url,
                '--initial-advertise-peer-urls', m.peer_url,
                '--initial-cluster', cluster,
                '--initial-cluster-state', 'new',
                '--initial-cluster-token', self.token,
                '--heartbeat-interval', str(self.heartbeat_ms),
                '--election-timeout', str(self.election_ms),
                '--logger', 'zap', '--log-outputs', 'stderr',
                '--enable-v2=false']

    def _env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith('ETCD')}
        env[OWNER_ENV] = str(os.getpid())
        return env

    def _spawn(self, m):
        if m.running():
            raise EtcdError('%s is already running' % m.name)
        # die_with_parent: a killed test runner takes its etcds along.
        m.proc = Proc(self._argv(m), m.log_path, env=self._env(), cwd=self.root)

    def start(self, timeout=30.0):
        if self._closed:
            raise EtcdError('cluster closed')
        self._lock()
        self._clear_addresses()
        for m in self.members:
            self._spawn(m)
        self.wait_healthy(timeout)
        return self

    def start_member(self, i):
        m = self.member(i)
        self._spawn(m)
        return m

    def stop_member(self, i, timeout=10.0):
        m = self.member(i)
        if m.proc is None:
            return None
        return m.proc.stop(timeout=timeout, sig=signal.SIGTERM)

    def kill_member(self, i):
        m = self.member(i)
        if m.proc is None:
            return None
        return m.proc.stop(timeout=5, sig=signal.SIGKILL)

    def stop_all(self, timeout=10.0):
        for m in self.members:
            if m.running():
                m.proc.send_signal(signal.SIGTERM)
        return [self.stop_member(m.index, timeout) for m in self.members]

    def start_all(self, timeout=30.0):
        for m in self.members:
            if not m.running():
                self._spawn(m)
        self.wait_healthy(timeout)

    def close(self):
        if self._closed:
            return
        self._closed = True
        for m in self.members:
            if m.proc is not None:
                try:
                    m.proc.stop(timeout=5, sig=signal.SIGKILL)
                except Exception:
                    pass
        self._unlock()
        if self in EtcdCluster.instances:
            EtcdCluster.instances.remove(self)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.print_logs()
        self.close()

    def log_tail(self, i, n=20):
        m = self.member(i)
        try:
            with open(m.log_path, 'rb') as f:
                lines = f.read().decode('utf-8', 'replace').splitlines()
        except OSError:
            return ''
        return '\n'.join(lines[-n:])

    def print_logs(self, n=15):
        for m in self.members:
            sys.stdout.write('--- etcd %s (%s, %s), last %d lines:\n%s\n'
                             % (m.name, m.log_path, 'running' if m.running() else 'stopped', n,
                                self.log_tail(m.index, n)))
        sys.stdout.flush()

    def wait_healthy(self, timeout=20.0):
        """Every running member says healthy (leader + quorum read) and takes a put."""
        live = [m for m in self.members if m.running()]
        if not live:
            raise EtcdError('no etcd member is running')
        t0 = time.monotonic()

        def healthy():
            for m in live:
                if not m.running():
                    raise EtcdError('etcd %s exited with %s:\n%s' % (
                        m.name, m.proc.poll(), self.log_tail(m.index, 30)))
            for m in live:
                st, body = self._http(m.client_url, '/health', None, timeout=2)
                if st != 200 or json.loads(body).get('health') != 'true':
                    return False
            for m in live:
                self.put('/_etcdlib/health', m.name, endpoint=m.client_url, timeout=2)
            return True
        try:
            wait_until(healthy, timeout=timeout, interval=0.1,
                       message='etcd members %s healthy' % ','.join(m.name for m in live))
        except AssertionError as e:
            for m in live:
                if not m.running():
                    raise EtcdError('etcd %s exited with %s:\n%s' % (
                        m.name, m.proc.poll(), self.log_tail(m.index, 30))) from None
            raise EtcdError('%s\n%s' % (e, '\n'.join('--- %s:\n%s' % (
                m.name, self.log_tail(m.index, 10)) for m in live))) from None
        return time.monotonic() - t0

    # ------------------------------------------------------------ HTTP
    def _http(self, url, path, body, timeout):
        data = None if body is None else json.dumps(body).encode()
        headers = {'Content-Type': 'application/json'}
        if self.auth_token and path != '/v3/auth/authenticate':
            headers['Authorization'] = self.auth_token
        req = urllib.request.Request(url + path, data=data,
                                     method='GET' if body is None else 'POST', headers=headers)
        try:
            with _opener.open(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def call(self, path, body, endpoint=None, timeout=10.0):
        """POST BODY (a dict) to PATH on a member; returns the decoded JSON answer.

        Without ENDPOINT, tries the running members in turn (the last one that answered first)
        until one answers or TIMEOUT passes; 'no leader'-style answers count as not answering.
        An answer with an error code raises EtcdError at once."""
        if endpoint is not None:
            urls = [self.member(endpoint).client_url]
        else:
            urls = None
        deadline = time.monotonic() + timeout
        errors = []
        while True:
            cands = urls or self._candidates()
            for url in cands:
                left = deadline - time.monotonic()
                try:
                    st, raw = self._http(url, path, body, timeout=max(0.2, min(left, 2.0)))
                except (OSError, urllib.error.URLError) as e:
                    errors.append('%s: %s' % (url, getattr(e, 'reason', e)))
                    continue
                try:
                    ans = json.loads(raw.decode() or '{}')
                except ValueError:
                    raise EtcdError('%s%s: HTTP %d, not JSON: %r' % (url, path, st, raw[:200]),
                                    http_status=st) from None
                if st == 200 and 'error' not in ans:
                    if urls is None:
                        self._preferred = self.member(url).index - 1
                    return ans
                msg = ans.get('error') or ans.get('message') or raw[:200]
                code = ans.get('code')
                transient = st >= 500 and any(w in str(msg) for w in (
                    'no leader', 'leader changed', 'timed out', 'unavailable', 'stopped',
                    'not capable', 'too many requests', 'not started'))
                if transient:
                    errors.append('%s: %s' % (url, msg))
                    continue
                raise EtcdError('%s%s: %s (HTTP %d, code %s)' % (url, path, msg, st, code),
                                code=code, http_status=st)
            if time.monotonic() >= deadline:
                raise EtcdError('no etcd member answered %s within %.1fs: %s'
                                % (path, timeout, '; '.join(errors[-6:]) or 'none running'))
            time.sleep(0.05)

    def _candidates(self):
        live = [m for m in self.members if m.running()]
        live.sort(key=lambda m: (m.index - 1 - self._preferred) % len(self.members))
        return [m.client_url for m in live]

    # ------------------------------------------------------------ KV
    @staticmethod
    def _kv(kv):
        return {'key': unb64(kv.get('key')).decode('utf-8', 'replace'),
                'value': unb64(kv.get('value')),
                'create_revision': int(kv.get('create_revision', 0)),
                'mod_revision': int(kv.get('mod_revision', 0)),
                'version': int(kv.get('version', 0)),
                'lease': int(kv.get('lease', 0))}

    def put(self, key, value, lease=0, endpoint=None, timeout=10.0):
        body = {'key': b64(_key_bytes(key)), 'value': b64(value)}
        if lease:
            body['lease'] = str(int(lease))
        ans = self.call('/v3/kv/put', body, endpoint, timeout)
        return int(ans['header']['revision'])

    def get_kv(self, key, endpoint=None, timeout=10.0):
        ans = self.call('/v3/kv/range', {'key': b64(_key_bytes(key))}, endpoint, timeout)
        kvs = ans.get('kvs') or []
        return self._kv(kvs[0]) if kvs else None

    def get(self, key, endpoint=None, timeout=10.0):
        kv = self.get_kv(key, endpoint, timeout)
        return None if kv is None else kv['value']

    def get_prefix(self, prefix, endpoint=None, timeout=10.0):
        ans = self.call('/v3/kv/range', {'key': b64(_key_bytes(prefix)),
                                         'range_end': b64(_prefix_end(prefix))}, endpoint, timeout)
        return {k['key']: k['value'] for k in (self._kv(x) for x in ans.get('kvs') or [])}

    def delete(self, key, endpoint=None, timeout=10.0):
        ans = self.call('/v3/kv/deleterange', {'key': b64(_key_bytes(key))}, endpoint, timeout)
        return int(ans.get('deleted', 0))

    def revision(self, endpoint=None, timeout=10.0):
        ans = self.call('/v3/kv/range', {'key': b64(b'/_etcdlib/revision')}, endpoint, timeout)
        return int(ans['header']['revision'])

    def compact(self, revision=None, physical=True, endpoint=None, timeout=10.0):
        if revision is None:
            revision = self.revision(endpoint, timeout)
        try:
            self.call('/v3/kv/compaction', {'revision': str(int(revision)), 'physical': physical},
                      endpoint, timeout)
        except EtcdError as e:
            # A retry of a compaction that went through the first time.
            if 'required revision has been compacted' not in str(e):
                raise
        return int(revision)

    def lease_grant(self, ttl, endpoint=None, timeout=10.0):
        ans = self.call('/v3/lease/grant', {'TTL': str(int(ttl)), 'ID': '0'}, endpoint, timeout)
        if ans.get('error'):
            raise EtcdError('lease grant: %s' % ans['error'])
        return int(ans['ID'])

    def lease_revoke(self, lease_id, endpoint=None, timeout=10.0):
        self.call('/v3/lease/revoke', {'ID': str(int(lease_id))}, endpoint, timeout)

    def lease_ttl(self, lease_id, endpoint=None, timeout=10.0):
        ans = self.call('/v3/lease/timetolive', {'ID': str(int(lease_id))}, endpoint, timeout)
        return int(ans.get('TTL', -1))

    def authenticate(self, user, password, timeout=10.0):
        """Log in as USER: the token goes with every later request."""
        ans = self.call('/v3/auth/authenticate', {'name': user, 'password': password},
                        timeout=timeout)
        if not ans.get('token'):
            raise EtcdError('authenticate %s: no token in %r' % (user, ans))
        self.auth_token = ans['token']
        return self.auth_token

    def member_status(self, i, timeout=3.0):
        m = self.member(i)
        return self.call('/v3/maintenance/status', {}, m.client_url, timeout)

    def leader(self):
        """Index of the leader (1-based) as some running member sees it; 0 if none."""
        ids = {}
        leader = None
        for m in self.members:
            if not m.running():
                continue
            try:
                st = self.member_status(m.index)
            except EtcdError:
                continue
            ids[st['header']['member_id']] = m.index
            leader = leader or st.get('leader')
        return ids.get(leader, 0) if leader else 0


# ---------------------------------------------------------------- agent-side helpers
def node_key(node, prefix='/zdu'):
    """The node's maintenance flag key: PREFIX/maintenance/nodes/NODE."""
    return '%s/maintenance/nodes/%s' % (prefix, node)


def all_key(prefix='/zdu'):
    """The cluster-wide maintenance flag key: PREFIX/maintenance/all."""
    return '%s/maintenance/all' % prefix


def agent_key(node, prefix='/zdu'):
    """Where the agent publishes its state: PREFIX/agents/NODE."""
    return '%s/agents/%s' % (prefix, node)


def flag_value(reason=None, mode='drain', by='etcd-test'):
    """A flag value in the flag file's format (mode=, reason=, since=, by= lines)."""
    lines = ['mode=%s' % mode]
    if reason is not None:
        lines.append('reason=%s' % reason)
    lines.append('since=%s' % time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
    lines.append('by=%s' % by)
    return '\n'.join(lines) + '\n'


def etcd_state(agent):
    """The agent's status flag.etcd object (KeyError names what is missing)."""
    st = agent.status()
    try:
        return st['flag']['etcd']
    except (KeyError, TypeError):
        raise KeyError('no flag.etcd in the agent status: %r' % (st.get('flag'),)) from None


def wait_etcd_state(agent, pred, what, timeout=10.0):
    """Poll etcd_state(AGENT) until PRED(state) is true; returns (state, seconds waited)."""
    last = {}
    t0 = time.monotonic()

    def poll():
        s = etcd_state(agent)
        last['s'] = s
        return s if pred(s) else None
    s = wait_until(poll, timeout=timeout, interval=0.05,
                   message=lambda: 'agent %s: flag.etcd %s (last %r)' % (agent.name, what,
                                                                       last.get('s')))
    return s, time.monotonic() - t0


class ReplyRecorder:
    """A thread probing AGENT's TCP port every INTERVAL s, recording each distinct reply.

        rec = ReplyRecorder(agent).start()
        ...
        rec.stop()
        rec.sequence()     # ['up ready 100%', 'up drain #maintenance: x', ...] (distinct runs)
    .changes: [(monotonic time, reply)] each time the reply differs from the previous one;
    .errors: [(time, repr(exception))] probes that failed (agent restarting);
    .probes: number of answered probes. Probe failures do not break a run: the reply before
    and after an agent restart counts as one if it is the same."""

    def __init__(self, agent, interval=0.05):
        self.agent = agent
        self.interval = interval
        self.changes = []
        self.errors = []
        self.probes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            t = time.monotonic()
            try:
                r = self.agent.reply(timeout=1.0)
            except Exception as e:   # agent restarting, port closed: not a reply
                self.errors.append((t, repr(e)))
            else:
                self.probes += 1
                if not self.changes or self.changes[-1][1] != r:
                    self.changes.append((t, r))
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        return self

    def sequence(self):
        return [r for _, r in self.changes]

    def last(self):
        return self.changes[-1][1] if self.changes else None


def wait_reply_alive(agent, want, timeout=10.0, interval=0.02):
    """agent.wait_reply(WANT), but fails at once, with the exit status, if the daemon exits
    meanwhile (a crash shows as 'exited with -6 (SIGABRT)', not as a reply timeout)."""
    pred = want if callable(want) else (lambda r: r == want)
    t0 = time.monotonic()
    last = None
    while True:
        if not agent.running():
            rc = agent.proc.poll() if agent.proc is not None else None
            sig = ''
            if isinstance(rc, int) and rc < 0:
                try:
                    sig = ' (%s)' % signal.Signals(-rc).name
                except ValueError:
                    pass
            raise AssertionError('agent %s exited with %s%s while waiting for the reply %r '
                                 '(last reply %r)' % (agent.name, rc, sig, want, last))
        try:
            last = agent.reply()
        except (OSError, AssertionError, TimeoutError):
            pass
        else:
            if pred(last):
                return last, time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise AssertionError('agent %s: reply %r not seen within %.1fs (last %r)'
                                 % (agent.name, want, timeout, last))
        time.sleep(interval)
