#!/usr/bin/python3
"""etcd over https with client certificates: etcd.ca_file, etcd.cert_file, etcd.key_file.

A throwaway PKI is made with the openssl CLI in a temp dir (test_probe_tls's openssl helper):
a CA, a server certificate for IP 127.0.0.25, a client certificate, and a second CA that has
signed nothing we use. This script runs ONE etcd member itself (not etcdlib: that harness is
plain http on 127.0.0.21-23) on https://127.0.0.25:2379 with --client-cert-auth (peer
http://127.0.0.25:2380), and talks to its JSON gateway with its own ssl context (CA + client
certificate). One fresh agent (probe disabled, own work dir, so no etcd.cache carries over)
per case:

  * ca_file = the CA, cert_file + key_file -> flag.etcd.reachable; a put of
    /zdu/maintenance/nodes/n1 ("mode=drain\\nreason=tls\\n") turns the reply into
    'up drain #maintenance: tls'; the agent publishes /zdu/agents/n1 (JSON, same reply).
  * ca_file = the unrelated CA -> never reachable, last_error names the certificate
    verification problem, the reply stays 'up ready 100%' (the node key still says drain).
  * no cert_file/key_file while etcd requires one -> never reachable, last_error is curl's
    message (non-empty, not the initial "not connected yet"; its words vary between attempts),
    the reply stays 'up ready 100%', and etcd's log says "client didn't provide a certificate".
Neither failing agent writes anything: the store's revision is unchanged and /zdu/agents/n1
(whose lease from the first agent has run out) stays absent.

The address is fixed: CTest runs this with RESOURCE_LOCK etcd-tls, and the script takes a
machine-wide flock on /tmp/zdu-etcd-tls.127.0.0.25.lock (two build trees at once).
ZDU_ETCD: the etcd binary (default /usr/bin/etcd). ZDU_KEEP_TMP=1 keeps the PKI and logs.
"""

import base64
import json
import os
import signal
import ssl
import time
import urllib.error
import urllib.request

from agentlib import Agent, check, check_holds, check_within, main
from etcdlib import agent_key, etcd_state, machine_lock, node_key, require_free, wait_etcd_state
from pkilib import make_ca, make_leaf
from testutil import Proc, check_loopback, tempdir, wait_until

ADDR = check_loopback('127.0.0.25')
CLIENT_URL = 'https://%s:2379' % ADDR
PEER_URL = 'http://%s:2380' % ADDR
NODE = 'n1'
READY = 'up ready 100%'
DRAIN = 'up drain #maintenance: tls'
LEASE_TTL_S = 2
NOT_YET = 'not connected yet'       # flag.etcd.last_error before the first attempt ends
WATCH_BAD_S = 2.0                   # how long a failing agent is watched never to be reachable


# ---------------------------------------------------------------- PKI
def make_pki(d):
    """CA, server (IP:127.0.0.25), client, and an unrelated CA; returns {name: path}."""
    pki = {'ca': make_ca(d, 'ca', 'zdu-agent etcd test CA'),
           'other_ca': make_ca(d, 'other-ca', 'zdu-agent unrelated CA')}
    # clientAuth too: etcd 3.4's JSON gateway dials etcd's own gRPC port with the server
    # certificate as its client certificate, which --client-cert-auth then checks.
    pki['server'] = make_leaf(d, 'server', ADDR, 'subjectAltName=IP:%s\n'
                              'extendedKeyUsage=serverAuth,clientAuth\n' % ADDR)
    pki['client'] = make_leaf(d, 'client', 'zdu-agent-etcd', 'extendedKeyUsage=clientAuth\n')
    return pki


# ---------------------------------------------------------------- etcd over https
def b64(data):
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode('ascii')


class TlsEtcd:
    """One etcd member on CLIENT_URL with --client-cert-auth; gateway calls with the client
    certificate. Use as a context manager (the member is SIGKILLed on exit)."""

    def __init__(self, root, pki, etcd_bin=None):
        self.root = root
        self.pki = pki
        self.etcd_bin = etcd_bin or os.environ.get('ZDU_ETCD', '/usr/bin/etcd')
        self.data_dir = os.path.join(root, 'etcd.data')
        self.log_path = os.path.join(root, 'etcd.log')
        self.proc = None
        self._lock_fd = None
        self.ctx = ssl.create_default_context(cafile=pki['ca'])
        self.ctx.load_cert_chain(*pki['client'])
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                                   urllib.request.HTTPSHandler(context=self.ctx))

    def _lock(self):
        self._lock_fd = machine_lock('/tmp/zdu-etcd-tls.%s.lock' % ADDR, 120,
                                     'its own etcd member on %s' % ADDR)

    @staticmethod
    def _check_free(port):
        require_free(ADDR, port)

    def start(self, timeout=20.0):
        if not os.access(self.etcd_bin, os.X_OK):
            raise RuntimeError('etcd not found at %s (Debian: apt-get install etcd-server; '
                               'or set ZDU_ETCD)' % self.etcd_bin)
        self._lock()
        self._check_free(2379)
        self._check_free(2380)
        argv = [self.etcd_bin, '--name', 'tls1', '--data-dir', self.data_dir,
                '--listen-client-urls', CLIENT_URL, '--advertise-client-urls', CLIENT_URL,
                '--listen-peer-urls', PEER_URL, '--initial-advertise-peer-urls', PEER_URL,
                '--initial-cluster', 'tls1=' + PEER_URL, '--initial-cluster-state', 'new',
                '--initial-cluster-token', 'zdu-tls-%d-%s' % (os.getpid(), os.urandom(3).hex()),
                '--cert-file', self.pki['server'][0], '--key-file', self.pki['server'][1],
                '--trusted-ca-file', self.pki['ca'], '--client-cert-auth',
                '--heartbeat-interval', '50', '--election-timeout', '500',
                '--logger', 'zap', '--log-outputs', 'stderr', '--enable-v2=false']
        env = {k: v for k, v in os.environ.items() if not k.startswith('ETCD')}
        t0 = time.monotonic()
        self.proc = Proc(argv, self.log_path, env=env, cwd=self.root)

        def up():
            if not self.proc.alive():
                raise AssertionError('etcd exited with %s:\n%s'
                                     % (self.proc.poll(), self.proc.log_tail(30)))
            self.call('/v3/kv/range', {'key': b64('/')}, timeout=2)
            return True
        try:
            wait_until(up, timeout=timeout, interval=0.1,
                       message=lambda: 'etcd on %s answering /v3/kv/range; log:\n%s'
                       % (CLIENT_URL, self.proc.log_tail(30)))
        except AssertionError:
            self.close()
            raise
        return time.monotonic() - t0

    def close(self):
        if self.proc is not None:
            self.proc.stop(timeout=5, sig=signal.SIGKILL)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and self.proc is not None:
            print('--- etcd log (%s), last 20 lines:\n%s' % (self.log_path,
                                                           self.proc.log_tail(20)), flush=True)
        self.close()

    def call(self, path, body, timeout=5.0):
        req = urllib.request.Request(CLIENT_URL + path, data=json.dumps(body).encode(),
                                     headers={'Content-Type': 'application/json'}, method='POST')
        with self._opener.open(req, timeout=timeout) as r:
            return json.loads(r.read().decode() or '{}')

    def put(self, key, value):
        return self.call('/v3/kv/put', {'key': b64(key), 'value': b64(value)})

    def get_kv(self, key):
        kvs = self.call('/v3/kv/range', {'key': b64(key)}).get('kvs') or []
        if not kvs:
            return None
        kv = kvs[0]
        return {'value': base64.b64decode(kv.get('value', '')), 'lease': int(kv.get('lease', 0))}

    def revision(self):
        return int(self.call('/v3/kv/range', {'key': b64('/')})['header']['revision'])


# ---------------------------------------------------------------- the agent
def settings(pki, ca, client_cert=True):
    g = {'endpoints': [CLIENT_URL], 'prefix': '/zdu', 'node': NODE, 'ca_file': ca,
         'lease_ttl_s': LEASE_TTL_S, 'timeout_ms': 1000, 'backoff_max_ms': 500}
    if client_cert:
        g['cert_file'], g['key_file'] = pki['client']
    return {'etcd': g}


def good_case(etcd, pki, work):
    with Agent(workdir=os.path.join(work, 'good'), settings=settings(pki, pki['ca'])) as a:
        st, dt = wait_etcd_state(a, lambda s: s.get('reachable') is True, 'reachable',
                                 timeout=10)
        print('good: reachable %.0f ms after the agent was ready; endpoint %r'
              % (dt * 1000, st.get('endpoint')), flush=True)
        check(st.get('last_error') is None, 'good: reachable, no last_error', st)
        check(a.reply() == READY, 'good: ready before the flag', a.reply())

        etcd.put(node_key(NODE), 'mode=drain\nreason=tls\n')
        check_within(lambda: a.reply() == DRAIN, 5, 'good: the node key over https drains the '
                     'node: %r' % DRAIN, detail=a.reply, interval=0.005)

        def published():
            kv = etcd.get_kv(agent_key(NODE))
            return kv if kv and json.loads(kv['value'].decode()).get('reply') == DRAIN else None
        kv = wait_until(published, timeout=5, interval=0.05,
                        message='/zdu/agents/n1 published with the drain reply')
        check(kv['lease'] != 0, 'good: /zdu/agents/n1 published (reply %r) under a lease'
              % DRAIN, kv)


def bad_case(etcd, pki, work, name, ca, client_cert, want_words, etcd_says=None):
    """A run that must never reach etcd: returns the last_error it settled on. ETCD_SAYS: a
    string etcd's own log must show meanwhile (its reason for rejecting the connection)."""
    rev0 = etcd.revision()
    log0 = len(etcd.proc.log_text())
    with Agent(workdir=os.path.join(work, name), settings=settings(pki, ca, client_cert)) as a:
        t0 = time.monotonic()
        st, dt = wait_etcd_state(a, lambda s: s.get('last_error') not in (None, '', NOT_YET),
                                 'last_error set by a failed attempt', timeout=10)
        err = st['last_error']
        print('%s: last_error after %.0f ms: %r' % (name, dt * 1000, err), flush=True)
        seen = set()

        def unreachable_and_ready():
            s = etcd_state(a)
            seen.add(s.get('last_error'))
            return s.get('reachable') is False and a.reply() == READY
        check_holds(unreachable_and_ready, t0 + WATCH_BAD_S - time.monotonic(),
                    '%s: never reachable and the reply stays %r, %.1f s from the start'
                    % (name, READY, WATCH_BAD_S), detail=lambda: (etcd_state(a), a.reply()))
        print('%s: last_errors seen: %r' % (name, sorted(x for x in seen if x)), flush=True)
        check(NOT_YET not in seen, '%s: last_error never back to %r' % (name, NOT_YET), seen)
        low = err.lower()
        check(CLIENT_URL in err, '%s: last_error names the endpoint' % name, err)
        for alts in want_words:
            check(any(w in low for w in alts), '%s: last_error says %s' % (name, ' or '.join(alts)),
                  err)
        check('etcd unreachable' in a.log_text(), '%s: the log says etcd unreachable' % name,
              a.log_tail(10))
    check(etcd.revision() == rev0, '%s: nothing written to etcd (revision %d)' % (name, rev0),
          etcd.revision())
    check(etcd.get_kv(agent_key(NODE)) is None, '%s: /zdu/agents/n1 not published' % name)
    rejected = etcd.proc.log_text()[log0:].count('"rejected connection"')
    print('%s: etcd logged %d rejected connections' % (name, rejected), flush=True)
    if etcd_says:
        check(etcd_says in etcd.proc.log_text()[log0:], '%s: etcd\'s log says %r'
              % (name, etcd_says), etcd.proc.log_tail(5))
    return err


def run():
    t_all = time.monotonic()
    work = tempdir('zdu-it-etcd-tls-')
    pki_dir = os.path.join(work, 'pki')
    os.makedirs(pki_dir)
    t0 = time.monotonic()
    pki = make_pki(pki_dir)
    print('PKI made in %.2f s in %s' % (time.monotonic() - t0, pki_dir), flush=True)

    with TlsEtcd(work, pki) as etcd:
        dt = etcd.start()
        print('etcd %s (client certificates required) answering after %.2f s'
              % (CLIENT_URL, dt), flush=True)
        # The server really does require a client certificate (else case (b) proves nothing).
        noclient = ssl.create_default_context(cafile=pki['ca'])
        try:
            urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                        urllib.request.HTTPSHandler(context=noclient)).open(
                urllib.request.Request(CLIENT_URL + '/v3/kv/range', method='POST',
                                       data=json.dumps({'key': b64('/')}).encode()), timeout=5)
            refused = None
        except (urllib.error.URLError, ssl.SSLError, OSError) as e:
            refused = e
        check(refused is not None, 'etcd refuses a client without a certificate (%s)'
              % refused)

        t0 = time.monotonic()
        good_case(etcd, pki, work)
        print('good case: %.2f s' % (time.monotonic() - t0), flush=True)

        # The first agent's lease (TTL 2 s, not revoked at exit) must run out before the
        # failing runs check that nothing is published.
        t0 = time.monotonic()
        wait_until(lambda: etcd.get_kv(agent_key(NODE)) is None, timeout=LEASE_TTL_S + 5,
                   interval=0.1, message='/zdu/agents/n1 gone after the first agent stopped')
        print('/zdu/agents/n1 expired %.2f s after the first agent stopped'
              % (time.monotonic() - t0), flush=True)
        check(etcd.get_kv(node_key(NODE)) is not None,
              'the node key still says drain (a failing agent that read it would drain)')

        t0 = time.monotonic()
        bad_case(etcd, pki, work, 'unrelated-ca', pki['other_ca'], True,
                 [('certificate', 'cert'), ('verif', 'issuer', 'unknown ca', 'self signed',
                                             'self-signed')])
        print('unrelated CA case: %.2f s' % (time.monotonic() - t0), flush=True)

        t0 = time.monotonic()
        # curl's words vary from one attempt to the next here (TLS 1.3: the server's alert
        # comes after the client's handshake is done): "OpenSSL SSL_read: ... alert bad
        # certificate", "Send failure: Connection reset by peer", "getpeername() failed ...".
        # etcd's log says why.
        bad_case(etcd, pki, work, 'no-client-cert', pki['ca'], False, [],
                 etcd_says="client didn't provide a certificate")
        print('no client certificate case: %.2f s' % (time.monotonic() - t0), flush=True)

        check(etcd.proc.alive(), 'etcd still running at the end')
    print('total %.2f s' % (time.monotonic() - t_all), flush=True)


if __name__ == '__main__':
    main(run)
