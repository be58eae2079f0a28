#!/usr/bin/python3
"""conf/etcd-rbac.sh against a real etcd 3.4 with authentication on: each user reaches exactly
its keys, and the agent and its CLI work with their own credentials.

One etcd member (/usr/bin/etcd) on 127.0.0.24:2379 (peer :2380), started here with its own
data dir and killed at the end whatever happens (127.0.0.21-23 belong to etcdlib's cluster).
`etcd-rbac.sh --enable-auth n1 n2`, with the coordinator's password from the environment and
the others generated, then:
  * etcd refuses anonymous requests; each user authenticates (POST /v3/auth/authenticate);
  * agent n1 (user zdu-agent-n1) publishes /zdu/agents/n1, which the coordinator user reads;
  * the coordinator user writes /zdu/maintenance/nodes/n1: the agent's TCP reply drains;
    deleting it makes the agent ready again;
  * `zdu-agent --maintenance on|off` with the agent's configuration writes and deletes its own
    key (exit 0, confirmed by the agent); `--all --yes` is refused (exit 1, permission denied):
    a node's credentials cannot touch the cluster-wide flag;
  * least privilege through the gateway: zdu-agent-n1 cannot write n2's key, the all key or
    n2's published state, nor read n2's key; it may read every agent's published state and
    write the fleet guard's claim key (/zdu/guard/nova-api); the coordinator cannot write an
    agent's published state;
  * an agent configured as node n2 but with n1's credentials reports "permission denied" in
    `--status --json` (flag.etcd.last_error, not reachable), publishes nothing, and its reply
    never changes, whatever is written to n2's key.
"""

import fcntl
import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request

from agentlib import Agent, check, check_within, cli_expect, main
from etcdlib import agent_key, all_key, b64, flag_value, gateway_error, node_key, unb64
from testutil import Proc, tempdir, wait_until

ADDR = '127.0.0.24'
CLIENT_PORT, PEER_PORT = 2379, 2380
URL = 'http://%s:%d' % (ADDR, CLIENT_PORT)
PEER = 'http://%s:%d' % (ADDR, PEER_PORT)
ETCD = os.environ.get('ZDU_ETCD', '/usr/bin/etcd')
SOURCE = os.environ.get('ZDU_SOURCE_DIR') or os.path.join(os.path.dirname(__file__), '..', '..')
SCRIPT = os.path.join(SOURCE, 'conf', 'etcd-rbac.sh')
READY = 'up ready 100%'
COORD_PASSWORD = 'coordinator-from-env-7'

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# ---------------------------------------------------------------- the etcd member
def port_free(port):
    """Nothing listens there (connections in TIME_WAIT from a previous run do not count:
    etcd binds with SO_REUSEADDR, as Go always does)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ADDR, port))
            return True
        except OSError:
            return False


def lock():
    """The same machine-wide lock etcdlib takes for its first address (two build trees'
    ctest at once); returns the held fd."""
    fd = os.open('/tmp/zdu-etcd.%s.lock' % ADDR, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    deadline = time.monotonic() + 170
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise AssertionError('another test holds /tmp/zdu-etcd.%s.lock' % ADDR)
            time.sleep(0.2)


def start_etcd(work):
    for p in (CLIENT_PORT, PEER_PORT):
        check(port_free(p), '%s:%d is free for this test\'s etcd' % (ADDR, p))
    proc = Proc([ETCD, '--name', 'rbac', '--data-dir', os.path.join(work, 'etcd-data'),
                 '--listen-client-urls', URL, '--advertise-client-urls', URL,
                 '--listen-peer-urls', PEER, '--initial-advertise-peer-urls', PEER,
                 '--initial-cluster', 'rbac=' + PEER, '--initial-cluster-state', 'new',
                 '--initial-cluster-token', 'zdu-rbac-%d' % os.getpid(),
                 '--heartbeat-interval', '50', '--election-timeout', '500'],
                os.path.join(work, 'etcd.log'))

    def healthy():
        if not proc.alive():
            raise AssertionError('etcd exited: %s\n%s' % (proc.poll(), proc.log_tail()))
        try:
            with _opener.open(URL + '/health', timeout=1) as r:
                return json.loads(r.read()).get('health') == 'true'
        except (OSError, ValueError):
            return False
    wait_until(healthy, timeout=30, message=lambda: 'etcd healthy; log:\n' + proc.log_tail())
    return proc


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


def token_of(user, password):
    st, ans = call('/v3/auth/authenticate', {'name': user, 'password': password})
    check(st == 200 and ans.get('token'), '%s authenticates' % user, (st, ans))
    return ans['token']


def get(key, token):
    """The value (bytes), None when absent; raises on an error answer."""
    st, ans = call('/v3/kv/range', {'key': b64(key)}, token)
    if st != 200 or gateway_error(ans):
        raise AssertionError('range %s: HTTP %d %r' % (key, st, ans))
    kvs = ans.get('kvs') or []
    return unb64(kvs[0].get('value')) if kvs else None


def put(key, value, token):
    st, ans = call('/v3/kv/put', {'key': b64(key), 'value': b64(value)}, token)
    if st != 200 or gateway_error(ans):
        raise AssertionError('put %s: HTTP %d %r' % (key, st, ans))


def delete(key, token):
    st, ans = call('/v3/kv/deleterange', {'key': b64(key)}, token)
    if st != 200 or gateway_error(ans):
        raise AssertionError('delete %s: HTTP %d %r' % (key, st, ans))


def denied(what, path, body, token):
    st, ans = call(path, body, token)
    check(st != 200 and 'permission denied' in (gateway_error(ans) or ''),
          '%s: permission denied' % what, (st, ans))


# ---------------------------------------------------------------- helpers
def rbac_script(*args, env_extra=None):
    env = dict(os.environ, ETCDCTL_ENDPOINTS=URL)
    for k in ('ETCDCTL_USER', 'ETCDCTL_PASSWORD'):
        env.pop(k, None)
    env.update(env_extra or {})
    r = subprocess.run([SCRIPT] + list(args), capture_output=True, text=True, env=env,
                       timeout=120)
    print('$ etcd-rbac.sh %s -> exit %d\n  stderr (tail): %s' % (
        ' '.join(args), r.returncode, '\n    '.join(r.stderr.strip().splitlines()[-6:])),
        flush=True)
    return r


def passwords(stdout):
    pw = {}
    for line in stdout.splitlines():
        if line.startswith('#') or not line.strip():
            continue
        user, _, password = line.partition(' ')
        pw[user] = password
    return pw


def agent_settings(node, user, password):
    return {'etcd': {'endpoints': [URL], 'prefix': '/zdu', 'node': node, 'user': user,
                     'password': password, 'lease_ttl_s': 3, 'timeout_ms': 1000,
                     'backoff_max_ms': 500}}


def status_json(agent):
    r = agent.cli('--status', '--json')
    check(r.returncode == 0, '--status --json: exit 0', (r.returncode, r.stderr))
    return json.loads(r.stdout)


# ---------------------------------------------------------------- the test
def run():
    work = tempdir('zdu-it-etcd-rbac-')
    fd = lock()
    etcd = None
    try:
        etcd = start_etcd(work)
        rbac(work)
    finally:
        if etcd is not None:
            etcd.stop(sig=9)
        os.close(fd)


def rbac(work):
    # ------------------------------------------------ the script
    r = rbac_script('--enable-auth', 'n1', 'n2',
                    env_extra={'ZDU_ETCD_COORDINATOR_PASSWORD': COORD_PASSWORD})
    check(r.returncode == 0, 'etcd-rbac.sh --enable-auth n1 n2: exit 0', r.stderr[-2000:])
    pw = passwords(r.stdout)
    check(set(pw) == {'zdu-agent-n1', 'zdu-agent-n2', 'root'},
          'generated passwords printed for the agents and root, not for the coordinator '
          '(given in the environment)', sorted(pw))
    check(COORD_PASSWORD not in r.stdout + r.stderr, 'the given password is not echoed')
    check(all(re.fullmatch(r'[A-Za-z0-9]{24}', p) for p in pw.values()),
          'generated passwords: 24 letters and digits', pw)

    st, ans = call('/v3/kv/range', {'key': b64(node_key('n1'))})
    check(st != 200 and gateway_error(ans), 'authentication is on: anonymous range refused',
          (st, ans))
    r = rbac_script('n3')
    check(r.returncode == 1 and 'ETCDCTL_USER' in r.stderr,
          'a second run without root credentials fails and says how to give them',
          (r.returncode, r.stderr[-500:]))
    r = rbac_script('n1', 'n2', env_extra={'ETCDCTL_USER': 'root',
                                            'ETCDCTL_PASSWORD': pw['root']})
    check(r.returncode == 0 and passwords(r.stdout) == {},
          'a second run as root: exit 0, existing users keep their passwords',
          (r.returncode, r.stdout, r.stderr[-500:]))

    coord = token_of('zdu-coordinator', COORD_PASSWORD)
    n1 = token_of('zdu-agent-n1', pw['zdu-agent-n1'])
    st, ans = call('/v3/auth/authenticate', {'name': 'zdu-agent-n1', 'password': 'wrong'})
    check(st != 200 and 'token' not in ans, 'a wrong password gets no token', (st, ans))

    # ------------------------------------------------ least privilege, through the gateway
    denied('n1 writes n2\'s key', '/v3/kv/put',
           {'key': b64(node_key('n2')), 'value': b64(flag_value('x'))}, n1)
    denied('n1 reads n2\'s key', '/v3/kv/range', {'key': b64(node_key('n2'))}, n1)
    denied('n1 writes the cluster-wide key', '/v3/kv/put',
           {'key': b64(all_key()), 'value': b64(flag_value('x'))}, n1)
    denied('n1 writes n2\'s published state', '/v3/kv/put',
           {'key': b64(agent_key('n2')), 'value': b64('{}')}, n1)
    denied('n1 writes the coordinator lock', '/v3/kv/put',
           {'key': b64('/zdu/coordinator/lock'), 'value': b64('x')}, n1)
    denied('the coordinator writes an agent\'s published state', '/v3/kv/put',
           {'key': b64(agent_key('n1')), 'value': b64('{}')}, coord)
    check(get(all_key(), n1) is None, 'n1 may read the cluster-wide key')
    # its services' keys (issue 17): its own only, the one range watch readable
    denied('n1 writes n2\'s service key', '/v3/kv/put',
           {'key': b64(node_key('n2') + '/placement'), 'value': b64(flag_value('x'))}, n1)
    denied('n1 writes n1-b\'s key (inside n1\'s watched range)', '/v3/kv/put',
           {'key': b64(node_key('n1') + '-b'), 'value': b64(flag_value('x'))}, n1)
    put(node_key('n1') + '/placement', flag_value('rbac service'), n1)
    delete(node_key('n1') + '/placement', n1)
    print('ok: n1 may write and delete its service key %s/placement' % node_key('n1'), flush=True)
    st, ans = call('/v3/kv/range', {'key': b64(node_key('n1')), 'range_end': b64(node_key('n1') + '0')}, n1)
    check(st == 200 and 'error' not in ans, 'n1 may read its range [n1, n10) (the agent\'s one watch)',
          (st, ans))
    # the fleet guard: every agent's state (one range over the prefix), and its claim key
    st, ans = call('/v3/kv/range', {'key': b64('/zdu/agents/'), 'range_end': b64('/zdu/agents0')}, n1)
    check(st == 200 and not gateway_error(ans), 'n1 may read every agent\'s published state (the guard)',
          (st, ans))
    put('/zdu/guard/nova-api', '{"down":["n1"]}', n1)
    print('ok: n1 may write the guard\'s claim key /zdu/guard/nova-api', flush=True)
    put('/zdu/coordinator/journal', 'rbac-test\n', coord)
    check(get('/zdu/coordinator/journal', coord) == b'rbac-test\n',
          'the coordinator writes and reads its journal key')
    delete('/zdu/coordinator/journal', coord)

    # ------------------------------------------------ agent n1 with its own credentials
    with Agent(workdir=os.path.join(work, 'n1'), name='n1',
               settings=agent_settings('n1', 'zdu-agent-n1', pw['zdu-agent-n1'])) as a:
        def published():
            v = get(agent_key('n1'), coord)
            return json.loads(v) if v else None
        state = wait_until(published, timeout=15,
                           message=lambda: '/zdu/agents/n1 published; agent log:\n'
                           + a.log_tail())
        check(state.get('node') == 'n1' and state.get('reply') == READY,
              'the coordinator reads n1\'s published state (node n1, ready)', state)
        check(a.reply() == READY, 'agent n1 ready', a.reply())

        put(node_key('n1'), flag_value('rbac drain'), coord)
        check_within(lambda: a.reply() == 'up drain #maintenance: rbac drain', 10,
                     'the coordinator\'s write of n1\'s key drains agent n1',
                     detail=a.reply, interval=0.005)
        delete(node_key('n1'), coord)
        check_within(lambda: a.reply() == READY, 10,
                     'the coordinator\'s delete makes it ready again',
                     detail=a.reply, interval=0.005)

        r = cli_expect(a, '--maintenance', 'on', '--reason', 'rbac cli')
        check('/zdu/maintenance/nodes/n1' in r.stdout, 'the CLI names the node key', r.stdout)
        v = (get(node_key('n1'), coord) or b'').decode()
        check('reason=rbac cli' in v.splitlines(), 'the CLI wrote n1\'s key with its own user', v)
        check(a.reply() == 'up drain #maintenance: rbac cli', 'agent n1 drains', a.reply())
        cli_expect(a, '--maintenance', 'off')
        check(get(node_key('n1'), coord) is None, 'off: n1\'s key deleted')
        a.wait_reply(READY, timeout=10)

        r = cli_expect(a, '--maintenance', 'on', '--all', '--yes', '--reason', 'not allowed',
                want_rc=1)
        check('permission denied' in r.stderr, '--all --yes with n1\'s user: permission denied',
              r.stderr)
        check(get(all_key(), coord) is None, 'the cluster-wide key was not written')
        check(a.reply() == READY, 'agent n1 still ready', a.reply())

        # -------------------------------------------- node n2 with n1's credentials
        with Agent(workdir=os.path.join(work, 'n2'), name='n2-with-n1-user',
                   settings=agent_settings('n2', 'zdu-agent-n1', pw['zdu-agent-n1'])) as b:
            first = b.reply()
            check(first == READY, 'the misconfigured agent starts ready (no flag known)', first)

            def denied_status():
                fe = status_json(b)['flag']['etcd']
                return fe if 'permission denied' in str(fe.get('last_error')) else None
            fe = wait_until(denied_status, timeout=15,
                            message=lambda: 'flag.etcd.last_error permission denied; log:\n'
                            + b.log_tail())
            check(fe['reachable'] is False and fe['active'] is False,
                  '--status --json: not reachable, no etcd flag; last_error: %s'
                  % fe['last_error'], fe)
            check('permission denied' in b.log_text(), 'the agent logs the permission error')

            put(node_key('n2'), flag_value('must not be seen'), coord)
            replies = set()
            t_end = time.monotonic() + 3
            while time.monotonic() < t_end:
                replies.add(b.reply())
                time.sleep(0.05)
            check(replies == {READY}, 'its reply never changes while n2\'s key drains',
                  replies)
            check(get(agent_key('n2'), coord) is None,
                  'nothing published at /zdu/agents/n2 (n1\'s user may not)')
            fe = status_json(b)['flag']['etcd']
            check(fe['reachable'] is False and 'permission denied' in str(fe['last_error']),
                  'still refused', fe)
            delete(node_key('n2'), coord)
            check(b.stop() == 0, 'the misconfigured agent exits 0 on SIGTERM')
        check(a.reply() == READY, 'agent n1 untouched by n2\'s key', a.reply())
        check(a.stop() == 0, 'agent n1 exits 0 on SIGTERM')


if __name__ == '__main__':
    main(run)
