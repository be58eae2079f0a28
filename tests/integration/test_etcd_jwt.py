#!/usr/bin/python3
"""etcd's recommended production tokens: JWT signed with RS256 and a 4096-bit RSA key. Such a
token is about 800 characters; the client used to build its Authorization header in a 600-byte
buffer, so every request after authenticating failed with "invalid auth token" (issue 14,
item 2).

This script runs ONE etcd member itself (not etcdlib's cluster on 127.0.0.21-23) on
127.0.0.26:2379 (peer :2380) with
    --auth-token jwt,pub-key=PUB,priv-key=PRIV,sign-method=RS256,ttl=4s
and a key pair made by `openssl genrsa 4096` in its temp dir (tokens live 4 s instead of 5 min,
so that every client has to renew its token during the test), then turns authentication on with
conf/etcd-rbac.sh (users zdu-agent-node1, zdu-coordinator, root; passwords from the
environment). Then, with the built binaries:
  * a token etcd issues (POST /v3/auth/authenticate) is a JWT of over 600 characters, and it
    works as is on the gateway;
  * agent node1 (behind a real HAProxy, clusterlib) with its own user publishes its state at
    /zdu/agents/node1, which the coordinator's user reads;
  * the coordinator's user writes /zdu/maintenance/nodes/node1: the agent's reply drains;
    deleting it makes it ready again;
  * `zdu-agent --maintenance on|off` with the agent's configuration writes and deletes the node
    key through etcd, confirmed by the daemon (exit 0);
  * once the agent's token expired (etcd refuses a token issued after it): its published state
    kept its lease (keepalives went on), the node key still drains and releases it, its state
    is published again, and its status shows no etcd error;
  * zdu-coordinator with the plan's etcd group (user zdu-coordinator) takes its lease lock
    /zdu/coordinator/lock (read while its upgrade command waits on a gate: its pid), drains
    node1 through etcd, holds it under the same lease after its token expired during the
    upgrade, and finishes the rollout (exit 0: its journal writes renewed the token too),
    releasing the lock.
At each step the agent's status shows no etcd error (flag.etcd.last_error, etcd.error), and its
log never says "invalid auth token".

The address is fixed: CTest runs this with RESOURCE_LOCK etcd-jwt, and the script takes a
machine-wide flock on /tmp/zdu-etcd-jwt.127.0.0.26.lock (two build trees at once).
ZDU_ETCD: the etcd binary (default /usr/bin/etcd). ZDU_KEEP_TMP=1 keeps keys, data and logs.
"""

import base64
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

from agentlib import check, check_within, cli_expect, main
from clusterlib import Cluster, coordinator_binary, libconfig_str
from etcdlib import agent_key, gateway_error, machine_lock, node_key, require_free
from pkilib import openssl
from testutil import Proc, check_loopback, tempdir, wait_until

ADDR = check_loopback('127.0.0.26')
URL = 'http://%s:2379' % ADDR
PEER = 'http://%s:2380' % ADDR
SOURCE = os.environ.get('ZDU_SOURCE_DIR') or os.path.join(os.path.dirname(__file__), '..', '..')
SCRIPT = os.path.join(SOURCE, 'conf', 'etcd-rbac.sh')
NODE = 'node1'
AGENT_USER = 'zdu-agent-' + NODE
PASSWORDS = {AGENT_USER: 'agent-node1-pw-5', 'zdu-coordinator': 'coordinator-pw-6',
             'root': 'root-pw-7'}
OLD_LIMIT = 600     # the header buffer the token used to be cut to
TOKEN_TTL_S = 4     # etcd's JWTs expire this soon (default 5 min): the test sees renewals
READY = 'up ready 100%'      # and the probe's '#nova-api 2.90'


def ready(reply):
    return reply.startswith(READY)

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode('ascii')


# ---------------------------------------------------------------- etcd with JWT tokens
class JwtEtcd:
    """One member on URL signing RS256 JWTs with a fresh 4096-bit key. Context manager: the
    member is SIGKILLed and the lock released on exit."""

    def __init__(self, root):
        self.root = root
        self.etcd_bin = os.environ.get('ZDU_ETCD', '/usr/bin/etcd')
        self.log_path = os.path.join(root, 'etcd.log')
        self.proc = None
        self._lock_fd = None

    def _lock(self):
        self._lock_fd = machine_lock('/tmp/zdu-etcd-jwt.%s.lock' % ADDR, 170,
                                     'its own etcd member on %s' % ADDR)

    @staticmethod
    def _check_free(port):
        require_free(ADDR, port)

    def start(self):
        if not os.access(self.etcd_bin, os.X_OK):
            raise RuntimeError('etcd not found at %s (Debian: apt-get install etcd-server; '
                               'or set ZDU_ETCD)' % self.etcd_bin)
        t0 = time.monotonic()
        openssl('genrsa', '-out', 'jwt.key', '4096', cwd=self.root)
        openssl('rsa', '-in', 'jwt.key', '-pubout', '-out', 'jwt.pub', cwd=self.root)
        print('4096-bit RSA key made in %.1fs' % (time.monotonic() - t0), flush=True)
        self._lock()
        self._check_free(2379)
        self._check_free(2380)
        argv = [self.etcd_bin, '--name', 'jwt1', '--data-dir', os.path.join(self.root, 'data'),
                '--listen-client-urls', URL, '--advertise-client-urls', URL,
                '--listen-peer-urls', PEER, '--initial-advertise-peer-urls', PEER,
                '--initial-cluster', 'jwt1=' + PEER, '--initial-cluster-state', 'new',
                '--initial-cluster-token', 'zdu-jwt-%d-%s' % (os.getpid(), os.urandom(3).hex()),
                '--auth-token', 'jwt,pub-key=%s,priv-key=%s,sign-method=RS256,ttl=%ds'
                % (os.path.join(self.root, 'jwt.pub'), os.path.join(self.root, 'jwt.key'),
                   TOKEN_TTL_S),
                '--heartbeat-interval', '50', '--election-timeout', '500',
                '--logger', 'zap', '--log-outputs', 'stderr', '--enable-v2=false']
        env = {k: v for k, v in os.environ.items() if not k.startswith('ETCD')}
        self.proc = Proc(argv, self.log_path, env=env, cwd=self.root)

        def up():
            if not self.proc.alive():
                return 'exited'
            with _opener.open(URL + '/health', timeout=1) as r:
                return json.loads(r.read()).get('health') == 'true'
        wait_until(up, timeout=30, interval=0.1,
                   message=lambda: 'etcd healthy on %s; log:\n%s' % (URL, self.proc.log_tail(30)))
        check(self.proc.alive(), 'etcd with JWT RS256 runs',
              'exited with %s:\n%s' % (self.proc.poll(), self.proc.log_tail(30)))
        return self

    def close(self):
        if self.proc is not None:
            self.proc.stop(timeout=5, sig=signal.SIGKILL)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and self.proc is not None:
            print('--- etcd log (%s), last 15 lines:\n%s' % (self.log_path,
                                                           self.proc.log_tail(15)), flush=True)
        self.close()


# ---------------------------------------------------------------- the JSON gateway
def call(path, body, token=None):
    """(HTTP status, decoded answer) of one gateway request."""
    req = urllib.request.Request(URL + path, data=json.dumps(body).encode(), method='POST',
                                 headers={'Content-Type': 'application/json'})
    if token:
        req.add_header('Authorization', token)
    try:
        with _opener.open(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b'{}')
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b'{}')


def token_of(user):
    st, ans = call('/v3/auth/authenticate', {'name': user, 'password': PASSWORDS[user]})
    check(st == 200 and ans.get('token'), '%s authenticates' % user, (st, ans))
    return ans['token']


_tokens = {}


def call_as(user, path, body):
    """call() with USER's token, renewed when etcd says it expired (code 16)."""
    for _ in range(2):
        if user not in _tokens:
            _tokens[user] = token_of(user)
        st, ans = call(path, body, _tokens[user])
        if ans.get('code') != 16:
            break
        del _tokens[user]
    if st != 200 or gateway_error(ans):
        raise AssertionError('%s as %s: HTTP %d %r' % (path, user, st, ans))
    return ans


def expired(token):
    """etcd refuses TOKEN now: its TTL ran out."""
    st, ans = call('/v3/kv/range', {'key': b64('/zdu/x')}, token)
    return st != 200 and ans.get('code') == 16 and 'invalid auth token' in (gateway_error(ans) or '')


def get(key, user='zdu-coordinator'):
    """The kv (value decoded, lease as int), None when absent."""
    kvs = call_as(user, '/v3/kv/range', {'key': b64(key)}).get('kvs') or []
    if not kvs:
        return None
    return {'value': base64.b64decode(kvs[0].get('value', '')),
            'lease': int(kvs[0].get('lease', 0))}


def value(key, user='zdu-coordinator'):
    kv = get(key, user)
    return None if kv is None else kv['value']


def put(key, val, user='zdu-coordinator'):
    call_as(user, '/v3/kv/put', {'key': b64(key), 'value': b64(val)})


def delete(key, user='zdu-coordinator'):
    call_as(user, '/v3/kv/deleterange', {'key': b64(key)})


# ---------------------------------------------------------------- helpers
def enable_auth():
    env = {k: v for k, v in os.environ.items() if not k.startswith('ETCDCTL_')}
    env.update(ETCDCTL_ENDPOINTS=URL,
               ZDU_ETCD_PASSWORD_NODE1=PASSWORDS[AGENT_USER],
               ZDU_ETCD_COORDINATOR_PASSWORD=PASSWORDS['zdu-coordinator'],
               ZDU_ETCD_ROOT_PASSWORD=PASSWORDS['root'])
    r = subprocess.run([SCRIPT, '--enable-auth', NODE], capture_output=True, text=True, env=env,
                       timeout=120)
    check(r.returncode == 0, 'etcd-rbac.sh --enable-auth %s: exit 0' % NODE,
          (r.returncode, r.stderr[-2000:]))
    st, ans = call('/v3/kv/range', {'key': b64(node_key(NODE))})
    check(st != 200 and gateway_error(ans), 'authentication is on: anonymous range refused',
          (st, ans))


def agent_etcd(name):
    return {'etcd': {'endpoints': [URL], 'prefix': '/zdu', 'node': name, 'user': AGENT_USER,
                     'password': PASSWORDS[AGENT_USER], 'lease_ttl_s': 5, 'timeout_ms': 3000,
                     'backoff_max_ms': 500, 'publish_interval_ms': 200}}


def etcd_errors(agent):
    """The agent's etcd errors as its status shows them (empty: none)."""
    st = agent.status()
    fe = st.get('flag', {}).get('etcd', {})
    errs = [('flag.etcd.last_error', fe.get('last_error'))]
    if not fe.get('reachable'):
        errs.append(('flag.etcd.reachable', fe.get('reachable')))
    pub = st.get('etcd') or {}
    errs.append(('etcd.error', pub.get('error') or pub.get('last_error')))
    return [(k, v) for k, v in errs if v not in (None, '', True)]


# ---------------------------------------------------------------- the test
def run():
    t_start = time.monotonic()
    work = tempdir('zdu-it-etcd-jwt-')
    with JwtEtcd(work):
        print('etcd with JWT RS256 up %.1fs after the start' % (time.monotonic() - t_start),
              flush=True)
        enable_auth()
        jwt(work)


def jwt(work):
    # ------------------------------------------------ the tokens etcd issues
    tokens = {u: token_of(u) for u in (AGENT_USER, 'zdu-coordinator')}
    for user, tok in tokens.items():
        print('%s: token of %d characters: %s...%s' % (user, len(tok), tok[:24], tok[-8:]))
        check(len(tok) > OLD_LIMIT and tok.startswith('eyJ') and tok.count('.') == 2,
              '%s gets a JWT of over %d characters (%d)' % (user, OLD_LIMIT, len(tok)))
    check(value(node_key(NODE)) is None,
          'the whole token works on the gateway (range as zdu-coordinator)')

    with Cluster(nodes=1, lbs=1, workdir=os.path.join(work, 'cluster'),
                 agent_extra=agent_etcd) as cl:
        a = cl.node(NODE)['agent']
        lb = cl.lbs[0]

        # -------------------------------------------- the agent publishes its state
        def published():
            v = value(agent_key(NODE))
            return json.loads(v) if v else None
        t0 = time.monotonic()
        state = wait_until(published, timeout=15, message=lambda: (
            '%s published by the agent (its etcd errors: %r); log:\n%s'
            % (agent_key(NODE), etcd_errors(a), a.log_tail())))
        print('published %.2fs after the cluster was up' % (time.monotonic() - t0))
        check(state.get('node') == NODE and ready(state.get('reply', '')),
              'the coordinator reads %s: node %s, %s' % (agent_key(NODE), NODE, READY),
              (state.get('node'), state.get('reply')))
        check_within(lambda: not etcd_errors(a), 10,
                     'the agent\'s status shows etcd reachable, no error',
                     detail=lambda: etcd_errors(a))
        # Issued after the agent's own token: once etcd refuses it, the agent's has expired.
        agent_mark = token_of(AGENT_USER)
        lease = get(agent_key(NODE))['lease']

        # -------------------------------------------- the node key drains the agent
        put(node_key(NODE), 'mode=drain\nreason=jwt drain\n')
        check_within(lambda: a.reply().startswith('up drain #maintenance: jwt drain'), 10,
                     'the coordinator\'s write of the node key drains the agent',
                     detail=a.reply, interval=0.005)
        delete(node_key(NODE))
        check_within(lambda: ready(a.reply()), 10,
                     'deleting it makes the agent ready again', detail=a.reply, interval=0.005)

        # -------------------------------------------- the CLI writes through etcd
        r = cli_expect(a, '--maintenance', 'on', '--reason', 'jwt cli')
        check(node_key(NODE) in r.stdout, 'the CLI names the node key', r.stdout)
        v = (value(node_key(NODE)) or b'').decode()
        check('reason=jwt cli' in v.splitlines(), 'the CLI wrote the node key', v)
        check(a.reply().startswith('up drain #maintenance: jwt cli'), 'the agent drains',
              a.reply())
        cli_expect(a, '--maintenance', 'off')
        check(value(node_key(NODE)) is None, 'off: the node key deleted')
        a.wait_reply(ready, timeout=10)

        wait_until(lambda: ready((published() or {}).get('reply', '')), timeout=10,
                   message=lambda: 'the published state back to ready: %r' % published())

        # -------------------------------------------- the agent renews its token
        check_within(lambda: expired(agent_mark), TOKEN_TTL_S + 5,
                     'the token the agent got has expired (etcd refuses a later one)')
        kv = get(agent_key(NODE))
        check(kv is not None and kv['lease'] == lease,
              'the published state kept its lease: the keepalives renewed the token',
              (kv, lease))
        put(node_key(NODE), 'mode=drain\nreason=after expiry\n')
        a.wait_reply(lambda r: r.startswith('up drain #maintenance: after expiry'), timeout=10)
        delete(node_key(NODE))
        check_within(lambda: ready(a.reply()), 10,
                     'the node key still drains and releases the agent',
                     detail=a.reply, interval=0.005)
        check_within(lambda: not etcd_errors(a), 10,
                     'no etcd error in the agent\'s status after its token expired',
                     detail=lambda: etcd_errors(a))
        # A request refused for its expired token is sent again with a new one: nothing
        # reaches the log (a client that did not renew logs "invalid auth token" here).
        bad = [l for l in a.log_text().splitlines() if 'invalid auth token' in l]
        check(not bad, 'the agent\'s log never says "invalid auth token" across the expiry',
              bad)
        wait_until(lambda: ready((published() or {}).get('reply', '')), timeout=10,
                   message=lambda: 'the published state back to ready: %r' % published())

        # -------------------------------------------- the coordinator takes its lock
        gate = os.path.join(cl.workdir, 'gate')
        started = os.path.join(cl.workdir, 'upgrade-started')
        open(gate, 'w').close()
        cmd = 'touch %s; while [ -e %s ]; do sleep 0.05; done' % (started, gate)
        extra = ('etcd = { endpoints = [ %s ]; user = "zdu-coordinator"; password = %s; '
                 'lock_ttl_s = 5; flag_timeout_ms = 5000; };'
                 % (libconfig_str(URL), libconfig_str(PASSWORDS['zdu-coordinator'])))
        plan = cl.write_plan(cmd, min_ready=0, extra=extra, node_entries=[
            dict(name=NODE, server=NODE, agent='etcd')])
        # No journal file in an etcd plan: drop the line write_plan adds.
        text = open(plan).read().splitlines()
        open(plan, 'w').write('\n'.join(l for l in text if not l.startswith('journal')) + '\n')
        out_path = os.path.join(cl.workdir, 'coordinator.out')
        with open(out_path, 'w') as out:
            co = subprocess.Popen([coordinator_binary(), '--plan', plan], stdout=out,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_until(lambda: os.path.exists(started) or co.poll() is not None, timeout=60,
                       message=lambda: 'the coordinator runs node1\'s upgrade; it says:\n'
                       + open(out_path).read())
            check(co.poll() is None, 'the coordinator runs node1\'s upgrade',
                  'it exited %s:\n%s' % (co.returncode, open(out_path).read()))
            lock = get('/zdu/coordinator/lock')
            check(lock is not None, '/zdu/coordinator/lock exists while the coordinator runs')
            holder = json.loads(lock['value'])
            check(holder.get('pid') == co.pid and lock['lease'] != 0,
                  'the lock holds the coordinator\'s pid %d, under a lease' % co.pid,
                  (holder, lock['lease']))
            jv = value('/zdu/coordinator/journal')
            check(jv and b'"flagged"' in jv, 'the journal is stored in etcd (guarded by the '
                  'lock)', jv)
            st = a.status()
            check(st['flag']['active'] and st['flag']['etcd']['source'] == 'node',
                  'node1 is flagged through its etcd key by the coordinator', st['flag'])
            row = lb.server(NODE)['status']
            check(row.startswith('DRAIN') or row.startswith('MAINT'),
                  'node1 drained on HAProxy during its upgrade', row)
            # The upgrade lasts until the coordinator's token expired: its lock keepalives
            # and its journal writes must renew it.
            coord_mark = token_of('zdu-coordinator')
            wait_until(lambda: expired(coord_mark) or co.poll() is not None,
                       timeout=TOKEN_TTL_S + 5, message='the coordinator\'s token expires')
            check(co.poll() is None, 'the coordinator still runs once its token expired',
                  open(out_path).read())
            kv = get('/zdu/coordinator/lock')
            check(kv is not None and kv['lease'] == lock['lease'],
                  'the lock still held under the same lease (keepalives renewed the token)',
                  (kv, lock['lease']))
        finally:
            if os.path.exists(gate):
                os.unlink(gate)
        rc = co.wait(timeout=60)
        text = open(out_path).read()
        print('zdu-coordinator -> exit %d:\n%s' % (rc, text))
        check(rc == 0, 'the rollout finishes: exit 0', rc)
        check(get('/zdu/coordinator/lock') is None, 'the lock is released at the end')
        check(value(node_key(NODE)) is None, 'the node key is cleared')
        a.wait_reply(ready, timeout=10)
        check(not etcd_errors(a), 'the agent shows no etcd error at the end', etcd_errors(a))
        check('invalid auth token' not in a.log_text(), 'the agent never logged '
              '"invalid auth token"')


if __name__ == '__main__':
    main(run)
