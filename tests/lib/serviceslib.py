#!/usr/bin/python3
"""One agent for several APIs (issue 17): HAProxy with a backend per service, agent-send
names, and raw agent clients (stdlib only).

Quick use::

    from serviceslib import ServicesHAProxy, services_text, ask, ask_bytewise, ask_silent, flood

    lb = ServicesHAProxy(wd, backends={
        'nova-api':  [dict(name='node1', addr='127.0.0.91', port=8774, agent_port=9777,
                           agent_addr='127.0.0.94', agent_send='nova-api\\n')],
        'placement': [dict(name='node1', addr='127.0.0.92', port=8778, agent_port=9777,
                           agent_addr='127.0.0.94', agent_send='placement\\n')]},
        check=False).start()
    lb.wait_server('node1', 'no check', backend='placement')
    Agent(..., extra_text=services_text([dict(name='nova-api', probe='nova', url=...), ...]))

ServicesHAProxy(workdir, backends, **HAProxy kwargs)
    haproxy.HAProxy with one backend per entry of BACKENDS ({backend: [server dicts]}, the
    server dicts as HAProxy's, agent_send included), in that order; the first is .backend
    (the default of server()/wait_server()/set_state()).  Every server method takes backend=.
    set_state(name, state, backend=None) and server_rows() -> {(backend, server): row}.

services_text(services) -> str
    The libconfig list ``services = ( { name = "x"; probe = "nova"; ... }, ... );`` for
    agentlib.Agent(extra_text=...): Python ints/bools/strs/lists as agentlib.libconfig_value.

Raw clients of the agent port (each a fresh TCP connection, addresses in 127.0.0.0/8 only):
    ask(addr, port, name, timeout=2) -> str         sends NAME + '\\n', the reply line (no '\\n');
                                                    name None: sends nothing.
    ask_timed(addr, port, data, timeout=2) -> (bytes, seconds)   connect to EOF.
    ask_bytewise(addr, port, data, gap=0.002, timeout=3) -> (bytes, seconds)
                                                    DATA one byte per send() (TCP_NODELAY),
                                                    GAP seconds apart, then reads to EOF.
    ask_silent(addr, port, timeout=3) -> (bytes, seconds)   connects and sends nothing.
    flood(addr, port, nbytes=1 << 20, timeout=5) -> dict    sends NBYTES bytes with no newline
                                                    and reads at the same time: {'sent': bytes
                                                    accepted by the kernel, 'send_error': str,
                                                    'reply': bytes read, 'end': 'eof'|'reset'|
                                                    'timeout', 'seconds': until the end}.
    latencies(addr, port, data, n, timeout=2) -> [seconds]   N sequential ask_timed(DATA).
    percentile(values, p) -> float                  nearest-rank percentile (p in 0..100).
"""

import math
import socket
import threading
import time

from haproxy import HAProxy
from testutil import check_loopback

__all__ = ['ServicesHAProxy', 'services_text', 'ask', 'ask_timed', 'ask_bytewise',
           'ask_silent', 'flood', 'latencies', 'percentile']


class ServicesHAProxy(HAProxy):
    """HAProxy with one backend per service; see the module docstring."""

    def __init__(self, workdir, backends, **kw):
        if not backends:
            raise ValueError('ServicesHAProxy: no backends')
        self.backends = {b: list(servers) for b, servers in backends.items()}
        first = next(iter(self.backends))
        flat = [s for servers in self.backends.values() for s in servers]
        super().__init__(workdir, backend=first, servers=flat, **kw)
        # the checked and defaulted server dicts, per backend again
        it = iter(self.servers)
        self.backends = {b: [next(it) for _ in servers] for b, servers in self.backends.items()}

    def config_text(self):
        # the global and defaults sections of HAProxy.config_text, then a backend per service
        text = super().config_text()
        head = text[:text.index('\nbackend %s\n' % self.backend)]
        L = [head, '']
        for b, servers in self.backends.items():
            L += ['backend %s' % b, '    balance roundrobin']
            L += ['    ' + x for x in self.extra_backend]
            L += [self._server_line(s) for s in servers]
            L.append('')
        return '\n'.join(L)

    def set_state(self, name, state, backend=None):
        self.admin('set server %s/%s state %s' % (backend or self.backend, name, state))

    def server_rows(self):
        """{(backend, server): show-stat row} of every configured server, one 'show stat'."""
        rows = {}
        for r in self.show_stat():
            if r.get('pxname') in self.backends and r.get('svname') not in ('FRONTEND',
                                                                             'BACKEND'):
                rows[(r['pxname'], r['svname'])] = r
        return rows


def _libconfig_value(v):
    from agentlib import libconfig_value
    return libconfig_value(v)


def services_text(services):
    """services = ( {...}, ... ); for the agent's configuration file."""
    items = []
    for s in services:
        body = ' '.join('%s = %s;' % (k, _libconfig_value(v)) for k, v in s.items())
        items.append('  { %s }' % body)
    return 'services = (\n%s\n);\n' % ',\n'.join(items)


# ---------------------------------------------------------------- raw agent clients
def _read_to_eof(s, deadline, what):
    chunks = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError('%s: no EOF in time; read so far %r' % (what, b''.join(chunks)))
        s.settimeout(left)
        try:
            data = s.recv(65536)
        except socket.timeout:
            raise TimeoutError('%s: no EOF in time; read so far %r'
                               % (what, b''.join(chunks))) from None
        if not data:
            return b''.join(chunks)
        chunks.append(data)


def ask_timed(addr, port, data, timeout=2.0):
    """Connect, send DATA (may be empty), read to EOF: (reply bytes, seconds connect..EOF)."""
    check_loopback(addr)
    t0 = time.monotonic()
    with socket.create_connection((addr, port), timeout=timeout) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if data:
            s.sendall(data)
        reply = _read_to_eof(s, t0 + timeout, 'agent %s:%d after %r' % (addr, port, data[:40]))
    return reply, time.monotonic() - t0


def _line(data, what):
    text = data.decode('utf-8', 'replace')
    if not text.endswith('\n') or text.count('\n') != 1:
        raise AssertionError('%s: the reply is not one line ending in a newline: %r' % (what, text))
    return text[:-1]


def ask(addr, port, name, timeout=2.0):
    """The reply line (without its newline) to NAME + '\\n'; NAME None sends nothing."""
    data = b'' if name is None else name.encode() + b'\n'
    reply, _ = ask_timed(addr, port, data, timeout)
    return _line(reply, 'agent %s:%d asked %r' % (addr, port, name))


def ask_bytewise(addr, port, data, gap=0.002, timeout=3.0):
    """DATA one byte per send(), GAP s apart (Nagle off), then read to EOF."""
    check_loopback(addr)
    t0 = time.monotonic()
    with socket.create_connection((addr, port), timeout=timeout) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(data)):
            s.send(data[i:i + 1])
            if gap:
                time.sleep(gap)
        reply = _read_to_eof(s, t0 + timeout, 'agent %s:%d bytewise %r' % (addr, port, data))
    return reply, time.monotonic() - t0


def ask_silent(addr, port, timeout=3.0):
    """Connect and send nothing: (reply bytes, seconds connect..EOF)."""
    return ask_timed(addr, port, b'', timeout)


def flood(addr, port, nbytes=1 << 20, timeout=5.0):
    """Send NBYTES (no newline) while reading; see the module docstring."""
    check_loopback(addr)
    res = {'sent': 0, 'send_error': None, 'reply': b'', 'end': None, 'seconds': None}
    t0 = time.monotonic()
    s = socket.create_connection((addr, port), timeout=timeout)
    chunk = b'x' * 65536

    def sender():
        try:
            while res['sent'] < nbytes:
                n = s.send(chunk[:min(len(chunk), nbytes - res['sent'])])
                res['sent'] += n
        except OSError as e:  # EPIPE / ECONNRESET once the agent has cut it off
            res['send_error'] = '%s: %s' % (type(e).__name__, e)

    th = threading.Thread(target=sender, daemon=True)
    th.start()
    chunks = []
    deadline = t0 + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                res['end'] = 'timeout'
                break
            s.settimeout(left)
            try:
                data = s.recv(65536)
            except socket.timeout:
                res['end'] = 'timeout'
                break
            except ConnectionResetError:
                res['end'] = 'reset'
                break
            if not data:
                res['end'] = 'eof'
                break
            chunks.append(data)
    finally:
        res['seconds'] = time.monotonic() - t0
        res['reply'] = b''.join(chunks)
        try:
            s.shutdown(socket.SHUT_RDWR)    # ends the sender's send() too
        except OSError:
            pass
        th.join(2.0)
        s.close()
    return res


def latencies(addr, port, data, n, timeout=2.0):
    out = []
    for _ in range(n):
        _, secs = ask_timed(addr, port, data, timeout)
        out.append(secs)
    return out


def percentile(values, p):
    if not values:
        raise ValueError('percentile of nothing')
    v = sorted(values)
    k = max(1, int(math.ceil(p / 100.0 * len(v))))
    return v[k - 1]
