#!/usr/bin/python3
"""Run a real HAProxy (2.6, /usr/sbin/haproxy) on loopback for integration tests.

Quick use::

    from testutil import tempdir, HttpStub
    from haproxy import HAProxy

    nova = HttpStub('127.0.0.11')            # a listener, so that the regular `check` passes
    with HAProxy(tempdir(), servers=[dict(name='node1', addr='127.0.0.11', port=nova.port,
                                          agent_port=9777)]) as lb:
        lb.wait_server('node1', {'status': 'UP', 'agent_status': 'L7OK'})  # first agent reply
        ...                                  # make the agent on 127.0.0.11:9777 say 'up drain'
        row = lb.wait_server('node1', 'DRAIN (agent)', timeout=5)
        print(row['weight'], row['last_agt'], lb.runtime('show servers state nova-api'))

Constructor ``HAProxy(workdir, name='lb1', backend='nova-api', servers=None, frontend=None,
agent_inter_ms=500, check=True, check_inter_ms=500, mode='http', extra_defaults=(),
extra_global=(), extra_backend=(), haproxy_bin=None)``:

  workdir         existing directory; the files are WORKDIR/NAME.cfg, NAME.sock (stats socket,
                  ``mode 600 level admin``) and NAME.log (haproxy's stdout+stderr, which also
                  gets its own log lines: ``log stderr`` + ``option log-health-checks``, so every
                  agent/health state change is written there with a timestamp).
  servers         list of dicts; keys (only ``name`` is required):
                    name, addr='127.0.0.11', port=8774, weight=100,
                    agent_port=9777 (None: no agent-check on this server),
                    agent_addr=None (None: the agent is probed on ``addr``),
                    agent_inter_ms (default: the constructor's), agent_send=None (bytes/str,
                    written verbatim, e.g. 'hello\\n'), check (default: the constructor's),
                    options='' (str or list of str appended verbatim, e.g. 'rise 1 fall 1').
                  The default is one server ``node1`` as above.
  frontend        (addr, port) to bind a frontend whose default_backend is BACKEND, or None.
  agent_inter_ms  agent-inter of every server (HAProxy's own default is 2000 ms).
  check           put ``check inter CHECK_INTER_MS`` on the server lines (regular TCP connect
                  check on addr:port; rise 2 / fall 3 as HAProxy's defaults). Independent of the
                  agent check, see "HAProxy 2.6 facts" below. testutil.HttpStub is a listener
                  that makes it pass.
  mode            'http' (adds ``option http-server-close``) or 'tcp'.
  extra_*         lines appended verbatim to the global / defaults / backend sections.
  haproxy_bin     default $ZDU_HAPROXY or /usr/sbin/haproxy.
  All addresses must be in 127.0.0.0/8.

Methods:
  config_text() -> str           the config that start() writes (write_config() writes it).
  start(timeout=10)              ``haproxy -f CFG -db`` (foreground) under testutil.Proc; returns
                                 once the stats socket answers ``show info``; raises RuntimeError
                                 with the log tail if haproxy exits (bad config, port in use...).
  stop()                         SIGTERM (SIGKILL after 5 s). Also done by ``with`` and at exit.
  running() -> bool
  runtime(cmd, timeout=5) -> str one request on the stats socket (several commands may be
                                 joined with ';', HAProxy runs them in order) and the full
                                 answer, read until HAProxy closes. Success of a setter is an
                                 empty answer.
  admin(cmd) -> None             runtime(), but raises RuntimeError if the answer is not empty
                                 (use for 'set server ...', 'disable agent ...' etc.).
  show_stat(proxy=None) -> list[dict]
                                 ``show stat`` parsed by the header names (values are the raw CSV
                                 strings: row['weight'] == '100'); PROXY filters on pxname.
  server(name, backend=None) -> dict   the show-stat row of a server (default backend: BACKEND);
                                 KeyError if absent.
  servers_state(backend=None) -> list[dict]
                                 ``show servers state BACKEND`` parsed by its '# ' header line
                                 (srv_name, srv_op_state, srv_admin_state, srv_uweight, ...).
  wait_server(name, want, timeout=10, interval=0.05, backend=None) -> dict
                                 polls server(name) until WANT holds and returns that row. WANT is
                                 a status string ('UP', 'DRAIN (agent)', 'MAINT', 'DOWN (agent)',
                                 'no check'; it also matches base_status(status), so 'UP' matches
                                 the transitional 'UP 1/3'),
                                 a dict {column: value} (values compared as str, e.g.
                                 {'status': 'UP', 'weight': 37}) or a callable(row) -> bool.
                                 On timeout raises testutil.WaitTimeout naming the last row's
                                 status, weight, agent_status, agent_code, agent_desc, last_agt,
                                 check_status, check_desc, lastchg.
  server_is(name, want, backend=None) -> dict or None
                                 the row if it matches WANT (as wait_server) now, else None: a
                                 predicate for testutil.check_within, with describe(name) (those
                                 columns of the row now) as its detail:
                                     check_within(lambda: lb.server_is('node1', 'UP'), 5,
                                                  'node1 UP', detail=lambda: lb.describe('node1'))
  set_state(name, 'ready'|'drain'|'maint'), set_weight(name, w), disable_agent(name),
  enable_agent(name)             runtime-API shorthands on BACKEND/name (raise on error).
  log_text()                     haproxy's log so far.

Module functions: parse_show_stat(text), parse_servers_state(text), base_status('UP 1/3') -> 'UP'.
AgentResponder(addr, port=0, line='up ready 100%'): a thread playing the agent (see its class doc).

HAProxy 2.6.12 facts (seen on Debian's 2.6.12; most are asserted by selftest_haproxy.py):
  * ``agent-check`` does NOT need ``check``: with ``agent-check agent-port P`` alone the agent is
    probed every agent-inter and its replies apply, but show stat's status for a serving server
    is then 'no check' (not 'UP'); drained/down ones show 'DRAIN (agent)' / 'DOWN (agent)'/'MAINT';
    check_status is ''. ``agent-check`` without ``agent-port`` is a fatal config error;
    ``agent-port`` without ``agent-check`` is accepted and silently probes nothing.
    ``agent-addr`` defaults to the server address (show servers state: srv_agent_addr '-').
  * With ``check`` and no listener on addr:port the server is DOWN (check_status L4CON) at once;
    the agent is still probed (agent_status L7OK) and its weight/drain still apply (srv_uweight,
    srv_admin_state 8), but status stays 'DOWN': the agent's ``up`` cannot override a failing
    check. Use check=False, or a testutil.HttpStub on addr:port, to see 'UP'.
  * Agent ``maint`` stops the regular check (check_status ''); after ``ready`` the server comes
    back as 'UP 1/3' until the check has passed again (wait_server('x', 'UP') accepts that).
  * ' (agent)' is appended to DRAIN/DOWN only while the agent check is enabled: an operator's
    ``set server .. state drain`` shows 'DRAIN (agent)' too, but after ``disable agent`` 'DRAIN'.
  * srv_admin_state: 8 = drained (SRV_ADMF_FDRAIN, agent or CLI), 1 = maint (SRV_ADMF_FMAINT);
    srv_op_state: 0 down, 2 running.
  * The agent's free text is not in agent_desc (that is HAProxy's 'Layer7 check passed'); it is
    in last_agt: 'via agent : up (maintenance: upgrade)'. Replies with no state word give
    agent_status 'CHECKED', agent_desc 'No status change'; ``down``/``stopped``: L7STS.
  * Latency: a changed reply shows in ``show stat`` within ~5 ms of HAProxy's next agent probe,
    i.e. 0..agent-inter after the change (uniform; mean ~agent-inter/2).
  * ``option http-server-close``: the server-side connection is closed after each response, so no
    idle keep-alive connection to a node outlives its last request (the selftest sees the stub's
    open connections drop to 0; srv_icur/idle_conn_cur stay 0). Without it (keep-alive) two
    idle server connections stayed open to the node after 3 requests, and still after its drain.
  * The BACKEND row's status is 'DOWN' when no server can take traffic (e.g. all drained).
"""

import csv
import io
import os
import re
import socket
import threading
import time

from testutil import Proc, WaitTimeout, check_loopback, wait_until

__all__ = ['HAProxy', 'AgentResponder', 'DEFAULT_SERVER', 'parse_show_stat',
           'parse_servers_state', 'base_status']

DEFAULT_SERVER = dict(name='node1', addr='127.0.0.11', port=8774, agent_port=9777,
                      agent_addr=None, weight=100)

# columns named in wait_server() timeout messages
_REPORT_COLUMNS = ('status', 'weight', 'agent_status', 'agent_code', 'agent_desc', 'last_agt',
                   'check_status', 'check_desc', 'lastchg')


def parse_show_stat(text):
    """Parse ``show stat`` CSV (header line '# pxname,svname,...') into a list of dicts."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith('# '):
        raise ValueError('show stat: no "# " header line in %r' % text[:200])
    header = lines[0][2:].split(',')
    rows = []
    for rec in csv.reader(io.StringIO('\n'.join(lines[1:]))):
        if not rec:
            continue
        row = {}
        for i, key in enumerate(header):
            if key:  # the header ends with ',' -> empty last name
                row[key] = rec[i] if i < len(rec) else ''
        rows.append(row)
    return rows


def parse_servers_state(text):
    """Parse ``show servers state`` (version line, '# ' header, space separated rows)."""
    header = None
    rows = []
    for line in text.splitlines():
        if line.startswith('# '):
            header = line[2:].split()
        elif header and line.strip():
            rows.append(dict(zip(header, line.split())))
    if header is None:
        raise ValueError('show servers state: no "# " header line in %r' % text[:200])
    return rows


def base_status(status):
    """'UP 1/3' -> 'UP', 'DOWN 1/2' -> 'DOWN' (HAProxy appends the check health while a
    server is in transition); other statuses are returned unchanged."""
    return re.sub(r' \d+/\d+$', '', status)


def _ms(v):
    return '%dms' % int(v)


class HAProxy:
    """One HAProxy instance with one backend; see the module docstring."""

    def __init__(self, workdir, name='lb1', backend='nova-api', servers=None,
                 frontend=None, agent_inter_ms=500, check=True, check_inter_ms=500, mode='http',
                 extra_defaults=(), extra_global=(), extra_backend=(), haproxy_bin=None):
        if mode not in ('http', 'tcp'):
            raise ValueError('mode must be http or tcp')
        self.workdir = os.path.abspath(str(workdir))
        self.name = name
        self.backend = backend
        self.servers = [dict(DEFAULT_SERVER, **s) for s in (servers or [DEFAULT_SERVER])]
        for s in self.servers:
            check_loopback(s['addr'])
            if s.get('agent_addr'):
                check_loopback(s['agent_addr'])
        if frontend is not None:
            check_loopback(frontend[0])
        self.frontend = frontend
        self.agent_inter_ms = agent_inter_ms
        self.check = check
        self.check_inter_ms = check_inter_ms
        self.mode = mode
        self.extra_defaults = list(extra_defaults)
        self.extra_global = list(extra_global)
        self.extra_backend = list(extra_backend)
        self.haproxy_bin = haproxy_bin or os.environ.get('ZDU_HAPROXY', '/usr/sbin/haproxy')
        self.cfg_path = os.path.join(self.workdir, name + '.cfg')
        self.sock_path = os.path.join(self.workdir, name + '.sock')
        self.log_path = os.path.join(self.workdir, name + '.log')
        if len(self.sock_path.encode()) > 100:
            raise ValueError('stats socket path too long for AF_UNIX: %s' % self.sock_path)
        self.proc = None

    # ------------------------------------------------------------ config
    def _server_line(self, s):
        words = ['server', s['name'], '%s:%d' % (s['addr'], int(s['port'])),
                 'weight', str(int(s['weight']))]
        if s.get('check', self.check):
            words += ['check', 'inter', _ms(self.check_inter_ms)]
        if s.get('agent_port') is not None:
            words += ['agent-check', 'agent-port', str(int(s['agent_port'])),
                      'agent-inter', _ms(s.get('agent_inter_ms') or self.agent_inter_ms)]
            if s.get('agent_addr'):
                words += ['agent-addr', s['agent_addr']]
            send = s.get('agent_send')
            if send:
                if isinstance(send, bytes):
                    send = send.decode()
                # haproxy config strings: double quotes, backslash escapes
                words += ['agent-send', '"%s"' % send.replace('\\', '\\\\')
                          .replace('"', '\\"').replace('\n', '\\n').replace('\r', '\\r')]
        opts = s.get('options') or []
        if isinstance(opts, str):
            opts = [opts]
        words += list(opts)
        return '    ' + ' '.join(words)

    def config_text(self):
        L = ['global',
             '    stats socket %s mode 600 level admin' % self.sock_path,
             '    stats timeout 30s',
             '    log stderr format timed local0 info',
             ]
        L += ['    ' + x for x in self.extra_global]
        L += ['',
              'defaults',
              '    mode %s' % self.mode,
              '    log global',
              '    option log-health-checks',
              '    timeout connect 2s',
              '    timeout client 30s',
              '    timeout server 30s',
              '    timeout check 2s',
              ]
        if self.mode == 'http':
            L.append('    option http-server-close')
        L += ['    ' + x for x in self.extra_defaults]
        if self.frontend is not None:
            L += ['',
                  'frontend fe_%s' % self.backend,
                  '    bind %s:%d' % (self.frontend[0], int(self.frontend[1])),
                  '    default_backend %s' % self.backend]
        L += ['', 'backend %s' % self.backend, '    balance roundrobin']
        L += ['    ' + x for x in self.extra_backend]
        L += [self._server_line(s) for s in self.servers]
        return '\n'.join(L) + '\n'

    def write_config(self):
        with open(self.cfg_path, 'w') as f:
            f.write(self.config_text())
        return self.cfg_path

    # ------------------------------------------------------------ process
    def start(self, timeout=10.0):
        if self.running():
            raise RuntimeError('haproxy %s already running' % self.name)
        self.write_config()
        if os.path.exists(self.sock_path):
            os.unlink(self.sock_path)
        self.proc = Proc([self.haproxy_bin, '-f', self.cfg_path, '-db'], self.log_path)

        def ready():
            if not self.proc.alive():
                return 'exited'
            try:
                return 'Name: HAProxy' in self.runtime('show info', timeout=1)
            except OSError:
                return False

        try:
            res = wait_until(ready, timeout=timeout, interval=0.02,
                             message='haproxy %s stats socket %s' % (self.name, self.sock_path))
        except WaitTimeout as e:
            tail = self.proc.log_tail(30)
            self.stop()
            raise RuntimeError('%s\n%s' % (e, tail)) from None
        if res == 'exited':
            raise RuntimeError('haproxy %s exited with %s:\n%s' % (
                self.name, self.proc.wait(), self.proc.log_tail(30)))
        return self

    def stop(self):
        if self.proc is not None:
            self.proc.stop()
        try:
            os.unlink(self.sock_path)
        except OSError:
            pass

    def running(self):
        return self.proc is not None and self.proc.alive()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def log_text(self):
        try:
            with open(self.log_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    # ------------------------------------------------------------ runtime API
    def runtime(self, cmd, timeout=5.0):
        """Send one request (commands may be joined by ';'); return the whole answer."""
        if isinstance(cmd, (list, tuple)):
            cmd = ';'.join(cmd)
        chunks = []
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.sock_path)
            s.sendall(cmd.rstrip('\n').encode() + b'\n')
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
        return b''.join(chunks).decode('utf-8', 'replace')

    def admin(self, cmd):
        out = self.runtime(cmd)
        if out.strip():
            raise RuntimeError('haproxy %s: %r answered %r' % (self.name, cmd, out.strip()))

    def show_stat(self, proxy=None):
        rows = parse_show_stat(self.runtime('show stat'))
        if proxy is not None:
            rows = [r for r in rows if r.get('pxname') == proxy]
        return rows

    def server(self, name, backend=None):
        backend = backend or self.backend
        for row in self.show_stat(backend):
            if row.get('svname') == name:
                return row
        raise KeyError('no server %s/%s in show stat' % (backend, name))

    def servers_state(self, backend=None):
        return parse_servers_state(self.runtime('show servers state %s' % (backend or self.backend)))

    @staticmethod
    def _server_pred(want):
        """(pred(row) -> bool, description) for WANT: a status, a {column: value} dict, a
        callable."""
        if callable(want):
            return want, getattr(want, '__name__', repr(want))
        if isinstance(want, dict):
            exp = {k: str(v) for k, v in want.items()}
            return (lambda row: all(row.get(k) == v for k, v in exp.items())), repr(exp)

        def pred(row):
            st = row.get('status', '')
            return st == want or base_status(st) == want
        return pred, 'status %r' % (want,)

    @staticmethod
    def _describe_row(row):
        if row is None:
            return 'no row read'
        return ', '.join('%s=%r' % (k, row[k]) for k in _REPORT_COLUMNS if k in row)

    def server_is(self, name, want, backend=None):
        row = self.server(name, backend)
        return row if self._server_pred(want)[0](row) else None

    def describe(self, name, backend=None):
        return self._describe_row(self.server(name, backend))

    def wait_server(self, name, want, timeout=10.0, interval=0.05, backend=None):
        pred, what = self._server_pred(want)
        last = {}

        def poll():
            row = self.server(name, backend)
            last['row'] = row
            return row if pred(row) else None

        def message():
            return '%s/%s %s (last: %s)' % (backend or self.backend, name, what,
                                            self._describe_row(last.get('row')))
        return wait_until(poll, timeout=timeout, interval=interval, message=message)

    # ------------------------------------------------------------ shorthands
    def _srv(self, name):
        return '%s/%s' % (self.backend, name)

    def set_state(self, name, state):
        self.admin('set server %s state %s' % (self._srv(name), state))

    def set_weight(self, name, weight):
        self.admin('set weight %s %s' % (self._srv(name), weight))

    def disable_agent(self, name):
        self.admin('disable agent %s' % self._srv(name))

    def enable_agent(self, name):
        self.admin('enable agent %s' % self._srv(name))


class AgentResponder:
    """A stand-in agent: a thread that accepts TCP connections on (addr, port) and answers
    each with ``line + '\\n'`` and a close, like zdu-agent does.

    AgentResponder(addr='127.0.0.1', port=0, line='up ready 100%', delay=0.0, read_send=False)
      .addr, .port     where it listens (port 0: a free one is chosen)
      .set(line)       change the reply; returns the monotonic time of the change
      .line            the current reply; '' closes without answering
      .hits            monotonic times of the connections accepted (list)
      .received        bytes read from each connection when read_send (HAProxy's agent-send)
      .delay           seconds to wait before answering (slow-agent tests)
      .close()         stop listening (HAProxy then sees L4CON); also a context manager
    """

    def __init__(self, addr='127.0.0.1', port=0, line='up ready 100%', delay=0.0,
                 read_send=False):
        check_loopback(addr)
        self.line = line
        self.delay = delay
        self.read_send = read_send
        self.hits = []
        self.received = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((addr, port))
        self._sock.listen(64)
        self.addr, self.port = self._sock.getsockname()
        self._closed = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def set(self, line):
        self.line = line
        return time.monotonic()

    def _serve(self):
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn):
        with conn:
            self.hits.append(time.monotonic())
            line = self.line
            try:
                if self.read_send:
                    conn.settimeout(1.0)
                    data = b''
                    while b'\n' not in data:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    self.received.append(data)
                if self.delay:
                    time.sleep(self.delay)
                if line:
                    conn.sendall(line.encode() + b'\n')
            except OSError:
                pass

    def close(self):
        self._closed = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
