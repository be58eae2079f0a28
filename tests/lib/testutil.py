#!/usr/bin/python3
"""Small generic helpers for the zdu-agent integration tests (stdlib only).

    free_port(addr='127.0.0.1') -> int
        A TCP port that is free on ADDR at the time of the call (bind to port 0,
        read it back, close).  Only 127.0.0.0/8 addresses are accepted.  There is
        an unavoidable race until the caller binds it; tests retry if they care.

    tempdir(prefix='zdu-') -> str
        A new directory under $TMPDIR, removed at interpreter exit unless the
        environment has ZDU_KEEP_TMP=1 (then its path is printed on stderr so a
        failed run can be inspected).  remove_tempdirs() removes them earlier.

    wait_until(predicate, timeout=5.0, interval=0.05, message=None) -> value
        Calls predicate() until it returns a truthy value and returns that value.
        Exceptions raised by predicate count as "not yet".  On timeout raises
        WaitTimeout (a subclass of AssertionError) naming MESSAGE (or the
        predicate), the elapsed time, the last value returned and the last
        exception raised.  MESSAGE may be a callable, evaluated at timeout.

    check_within(predicate, timeout, what, detail=None, interval=0.05) -> value
        A check whose condition is reached by waiting: polls PREDICATE as
        wait_until does; prints 'ok: WHAT (after X s)' and returns its value,
        or raises WaitTimeout 'WHAT: not within T s: DETAIL; last value ...'
        (DETAIL may be a callable, evaluated at the deadline).  Use it instead
        of a wait followed by check(True, ...): the check IS the condition.

    check_holds(predicate, seconds, what, detail=None, interval=0.05) -> n polls
        The other way round: PREDICATE stays truthy for SECONDS (exceptions
        propagate); prints 'ok: WHAT (held X s, N polls)' or raises
        AssertionError at the first falsy value.

    Proc(argv, log, env=None, cwd=None, die_with_parent=True)
        Starts argv with stdin=/dev/null and stdout+stderr appended to the file
        LOG (the directory is created).  .pid, .poll(), .alive(), .wait(t),
        .stop(timeout=5, sig=SIGTERM) (then SIGKILL), .log_tail(n) and a context
        manager.  Every Proc still running at interpreter exit is stopped.  With
        die_with_parent the child gets PR_SET_PDEATHSIG=SIGKILL so a killed test
        runner does not leave daemons behind; note that Linux sends it when the
        *thread* that started the child exits, so start long-lived Procs from the
        main thread (or pass die_with_parent=False).

    agent_probe(host, port, send=b'', timeout=2.0) -> (reply_bytes, seconds)
        Connects like HAProxy's agent-check does, sends SEND if not empty, reads
        until the peer closes and returns the whole reply and the elapsed time
        (connect to EOF).  Raises TimeoutError (with the bytes read so far in the
        message) if the reply is not complete within TIMEOUT seconds overall.

    HttpStub(addr, port=0, body=None)
        A threaded HTTP/1.1 server answering every GET/HEAD with 200 and BODY
        (default 'ADDR:PORT\n'): a stand-in nova-api so that HAProxy's regular
        `check` passes and frontend traffic can be counted.  .addr, .port,
        .requests (count), .open_conns (currently open TCP connections),
        .close(); context manager.
"""

import atexit
import http.server
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

__all__ = ['free_port', 'tempdir', 'remove_tempdirs', 'wait_until', 'check_within', 'check_holds',
           'WaitTimeout', 'Proc', 'agent_probe', 'check_loopback', 'HttpStub']


def check_loopback(addr):
    """Raise ValueError unless ADDR is an IPv4 address in 127.0.0.0/8."""
    try:
        ip = ipaddress.IPv4Address(addr)
    except ValueError:
        raise ValueError('not an IPv4 address: %r' % (addr,)) from None
    if ip not in ipaddress.IPv4Network('127.0.0.0/8'):
        raise ValueError('tests may only use 127.0.0.0/8, not %s' % addr)
    return addr


def free_port(addr='127.0.0.1'):
    """Return a TCP port currently free on ADDR (127.x only)."""
    check_loopback(addr)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((addr, 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- temp dirs
_tempdirs = []
_tempdirs_lock = threading.Lock()


def tempdir(prefix='zdu-'):
    """Create a temp dir removed at exit unless ZDU_KEEP_TMP=1."""
    path = tempfile.mkdtemp(prefix=prefix)
    with _tempdirs_lock:
        _tempdirs.append(path)
    return path


def keep_tmp():
    return os.environ.get('ZDU_KEEP_TMP') == '1'


def remove_tempdirs():
    with _tempdirs_lock:
        paths = list(_tempdirs)
        del _tempdirs[:]
    for path in paths:
        if keep_tmp():
            sys.stderr.write('ZDU_KEEP_TMP=1: keeping %s\n' % path)
        else:
            shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------- waiting
class WaitTimeout(AssertionError):
    """wait_until() gave up."""


def _poll(predicate, timeout, interval):
    """Call PREDICATE until truthy or TIMEOUT s have passed (exceptions: "not yet").
    Returns (value, seconds, last_value, last_exc): VALUE is None on timeout."""
    start = time.monotonic()
    deadline = start + timeout
    last_value = None
    last_exc = None
    while True:
        try:
            value = predicate()
        except Exception as e:  # "not yet"; remembered for the error message
            last_exc = e
        else:
            last_exc = None
            if value:
                return value, time.monotonic() - start, value, None
            last_value = value
        if time.monotonic() >= deadline:
            return None, time.monotonic() - start, last_value, last_exc
        time.sleep(interval)


def _evaluate(text):
    """TEXT, or TEXT() if it is callable (a failure of the callable is reported, not raised)."""
    if not callable(text):
        return text
    try:
        return text()
    except Exception as e:
        return '(callback failed: %s: %s)' % (type(e).__name__, e)


def _last(last_value, last_exc):
    text = 'last value %r' % (last_value,)
    if last_exc is not None:
        text += '; last exception %s: %s' % (type(last_exc).__name__, last_exc)
    return text


def parallel(fn, items):
    """fn(item) for every item at once; re-raises the first error."""
    errs = []

    def one(x):
        try:
            fn(x)
        except Exception as e:  # noqa: B902
            errs.append(e)
    ths = [threading.Thread(target=one, args=(x,)) for x in items]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    if errs:
        raise errs[0]


def wait_until(predicate, timeout=5.0, interval=0.05, message=None):
    """Poll PREDICATE until truthy; return its value or raise WaitTimeout."""
    value, secs, last_value, last_exc = _poll(predicate, timeout, interval)
    if value:
        return value
    what = _evaluate(message) or getattr(predicate, '__name__', repr(predicate))
    raise WaitTimeout('timed out after %.2fs waiting for %s; %s'
                      % (secs, what, _last(last_value, last_exc)))


def check_within(predicate, timeout, what, detail=None, interval=0.05):
    """The check WHAT is PREDICATE() becoming truthy within TIMEOUT seconds.

    Polls like wait_until (exceptions count as "not yet"); prints 'ok: WHAT (after X s)' and
    returns the value, or raises WaitTimeout (an AssertionError) 'WHAT: not within T s',
    with DETAIL (a value, or a callable evaluated at the deadline), the last value and the
    last exception."""
    value, secs, last_value, last_exc = _poll(predicate, timeout, interval)
    if value:
        print('ok: %s (after %.3f s)' % (what, secs), flush=True)
        return value
    text = '%s: not within %.1f s' % (what, timeout)
    if detail is not None:
        text += ': %r' % (_evaluate(detail),)
    raise WaitTimeout('%s; %s' % (text, _last(last_value, last_exc)))


def check_holds(predicate, seconds, what, detail=None, interval=0.05):
    """The check WHAT is PREDICATE() staying truthy for SECONDS, called every INTERVAL s.

    Prints 'ok: WHAT (held X s, N polls)' and returns N, or raises AssertionError at the first
    falsy value, naming when and DETAIL (a value, or a callable evaluated then). An exception
    raised by PREDICATE is not "not yet" here: it propagates."""
    start = time.monotonic()
    deadline = start + seconds
    n = 0
    while True:
        value = predicate()
        n += 1
        if not value:
            text = '%s: broken after %.2f s (poll %d): value %r' % (
                what, time.monotonic() - start, n, value)
            if detail is not None:
                text += '; %r' % (_evaluate(detail),)
            raise AssertionError(text)
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    print('ok: %s (held %.1f s, %d polls)' % (what, time.monotonic() - start, n), flush=True)
    return n


# ---------------------------------------------------------------- processes
_procs = []
_procs_lock = threading.Lock()


def _pdeathsig_preexec():
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:
        pass


class Proc:
    """A subprocess whose output goes to a log file and which is stopped at exit."""

    def __init__(self, argv, log, env=None, cwd=None, die_with_parent=True):
        self.argv = [str(a) for a in argv]
        self.log = str(log)
        os.makedirs(os.path.dirname(os.path.abspath(self.log)), exist_ok=True)
        self._logf = open(self.log, 'ab')
        self._logf.write(('--- %s: %s\n' % (time.strftime('%H:%M:%S'),
                                             ' '.join(self.argv))).encode())
        self._logf.flush()
        self.popen = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=self._logf,
            stderr=subprocess.STDOUT, env=env, cwd=cwd, close_fds=True,
            preexec_fn=_pdeathsig_preexec if die_with_parent else None)
        self.pid = self.popen.pid
        with _procs_lock:
            _procs.append(self)

    def poll(self):
        """Exit status, or None while running."""
        return self.popen.poll()

    def alive(self):
        return self.popen.poll() is None

    @property
    def returncode(self):
        return self.popen.returncode

    def wait(self, timeout=None):
        return self.popen.wait(timeout)

    def send_signal(self, sig):
        if self.alive():
            self.popen.send_signal(sig)

    def stop(self, timeout=5.0, sig=signal.SIGTERM):
        """Send SIG, wait up to TIMEOUT, then SIGKILL. Returns the exit status."""
        if self.alive():
            try:
                self.popen.send_signal(sig)
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
            except ProcessLookupError:
                pass
        with _procs_lock:
            if self in _procs:
                _procs.remove(self)
        if not self._logf.closed:
            self._logf.close()
        return self.popen.returncode

    def log_text(self):
        try:
            with open(self.log, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    def log_tail(self, lines=20):
        return '\n'.join(self.log_text().splitlines()[-lines:])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        return '<Proc pid=%s rc=%s %s>' % (self.pid, self.popen.poll(), self.argv[0])


def stop_all_procs():
    with _procs_lock:
        procs = list(_procs)
    for p in reversed(procs):
        try:
            p.stop(timeout=2.0)
        except Exception:
            pass


# ---------------------------------------------------------------- agent probe
def agent_probe(host, port, send=b'', timeout=2.0):
    """Connect, send SEND, read to EOF. Returns (reply_bytes, seconds)."""
    check_loopback(host)
    start = time.monotonic()
    deadline = start + timeout
    chunks = []
    with socket.create_connection((host, port), timeout=timeout) as s:
        if send:
            s.sendall(send)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError('agent %s:%s: no EOF within %.1fs; read so far %r'
                                   % (host, port, timeout, b''.join(chunks)))
            s.settimeout(left)
            try:
                data = s.recv(65536)
            except socket.timeout:
                raise TimeoutError('agent %s:%s: no EOF within %.1fs; read so far %r'
                                   % (host, port, timeout, b''.join(chunks))) from None
            if not data:
                break
            chunks.append(data)
    return b''.join(chunks), time.monotonic() - start


# ---------------------------------------------------------------- HTTP stub
class _StubHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def _answer(self, with_body):
        srv = self.server
        with srv.lock:
            srv.requests += 1
        body = srv.body
        self.send_response(200)
        self.send_header('Content-Type', 'text/plain')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def do_GET(self):
        self._answer(True)

    def do_HEAD(self):
        self._answer(False)

    def log_message(self, *args):
        pass


class HttpStub(http.server.ThreadingHTTPServer):
    """Tiny HTTP server thread: 200 + a fixed body for every request."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, port=0, body=None):
        check_loopback(addr)
        self.lock = threading.Lock()
        self.requests = 0
        self.open_conns = 0
        super().__init__((addr, port), _StubHandler)
        self.addr, self.port = self.server_address[:2]
        if body is None:
            body = '%s:%d\n' % (self.addr, self.port)
        self.body = body.encode() if isinstance(body, str) else body
        self._thread = threading.Thread(target=self.serve_forever, kwargs={'poll_interval': 0.05},
                                        daemon=True)
        self._thread.start()

    def process_request(self, request, client_address):
        with self.lock:
            self.open_conns += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        super().shutdown_request(request)
        with self.lock:
            self.open_conns -= 1

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], OSError):   # resets by HAProxy are normal
            super().handle_error(request, client_address)

    def close(self):
        self.shutdown()
        self.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# Procs are stopped before temp dirs are removed (atexit runs LIFO).
atexit.register(remove_tempdirs)
atexit.register(stop_all_procs)


# ---------------------------------------------------------------- an API port that holds
class HoldingListener:
    """A listener playing an API port for drain tests: accepts connections and keeps them open
    until close()."""

    def __init__(self, addr='127.0.0.1'):
        check_loopback(addr)
        self.sock = socket.socket()
        self.sock.bind((addr, 0))
        self.sock.listen(64)
        self.addr, self.port = self.sock.getsockname()
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()
