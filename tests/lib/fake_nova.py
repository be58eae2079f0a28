#!/usr/bin/python3
"""Fake OpenStack nova-api for zdu-agent fault-injection tests (stdlib only).

Program:
    fake_nova.py --listen 127.0.0.1:PORT [--control 127.0.0.1:CPORT]
                 [--mode healthy] [--version 2.93] [--min-version 2.1] [-v]
  PORT/CPORT may be 0 (ephemeral).  Once both sockets are bound it prints one
  line to stdout:  "ready listen=127.0.0.1:PORT control=127.0.0.1:CPORT"
  (control=- without --control).  SIGTERM/SIGINT or the control command
  "shutdown" stop it (exit 0).  Addresses outside 127.0.0.0/8 are refused.

Module:
    fn = FakeNova("127.0.0.1", 0, control_port=None)   # 0 = ephemeral
    fn.start()                  # sockets bound when it returns; fn.port set
    fn.set_mode("trickle", interval_ms=100)   # effective when it returns
    fn.requests, fn.log, fn.mode, fn.wait_for_requests(n, timeout)
    fn.stop()                   # everything closed within ~1 s
  Also a context manager (with FakeNova(...) as fn: ...).

Control protocol (TCP, one command per line, one reply line per command,
several commands per connection allowed):
    mode NAME [key=value ...]   -> "ok" | "err MESSAGE"
    status                      -> "ok mode=NAME requests=N connections=N listening=0|1"
    requests                    -> "ok N"
    log [N]                     -> "ok JSON"  (last N entries, [[time, path, mode], ...])
    reset                       -> "ok"       (zero the counter, clear the log)
    ping                        -> "ok"
    quit                        -> "ok", closes this control connection
    shutdown                    -> "ok", stops the whole fake

Routing (path without query string):
    .../v2.1/      version document (the probe target), per mode
    .../v2.1       302 -> same path + "/" (like nova; agents must not rely on it)
    /healthcheck   oslo-style: 200 "OK", 503 "DISABLED BY FILE" in healthcheck_disabled
    /              200 {"versions": [...]}
    anything else  404 JSON;  methods other than GET/HEAD -> 405
  Every response carries "Connection: close"; the server closes after one
  response (no keep-alive).

Modes (params in brackets; common params for every mode that answers:
delay_ms=0 (sleep before answering), framing=length|close|chunked
(Content-Length / close-delimited / Transfer-Encoding: chunked),
version=, min_version= (override the constructor values)):
    healthy                 200 application/json real nova version document
    http500    [code=500]   500 (or code) with nova computeFault JSON, all paths
    refused                 listening socket closed -> ECONNREFUSED; switching
                            to it also aborts every open client connection
                            (like a crash); other modes re-bind the same port
    hang                    reads the request, never answers; the connection is
                            closed WITHOUT a reply when the mode changes, the
                            client closes, or stop()
    trickle    [interval_ms=200 chunk=1]  headers at once, then `chunk` body
                            bytes every interval_ms (all paths); an in-flight
                            trickle keeps going after a mode change (not refused)
    badjson    [kind=truncated|garbage]  200 application/json, invalid JSON.
                            truncated: body is exactly the 37 bytes
                            '{"version": {"id": "v2.1", "status": '
                            (Content-Length: 37), parse fails at byte offset 37
                            (0-based) = end of input.  garbage: the same 37
                            bytes + '#}}' (40 bytes); byte 37 is '#'.
    oversized  [size=204800] 200, valid JSON of exactly `size` bytes (at least
                            the ~430-byte healthy document if size is smaller): the
                            healthy document plus a "padding" member after
                            "version" ({"version": {...}, "padding": "xxx..."})
    wrong      [variant=supported|missing status=SUPPORTED] 200 JSON:
                            supported: healthy document with status=`status`;
                            missing: no "version" key, nova root document
                            {"versions": [{... "status": "CURRENT" ...}]}
    html                    200 text/html page
    healthcheck_disabled    healthy, but /healthcheck -> 503 DISABLED BY FILE
    slow       [delay_ms=1200]  healthy, but every answer (all paths) comes
                            delay_ms late: an API that accepts at once and is
                            busy (the probe's "slow", not a failure)
    close                   (extra) reads the request, closes, no reply (FIN)
    reset                   (extra) reads the request, closes with RST
  badjson/oversized/wrong/html only change the version document (and /);
  /healthcheck stays 200 OK.  http500/hang/trickle/close/reset apply to
  every path.
"""

import argparse
import collections
import ipaddress
import json
import selectors
import signal
import socket
import struct
import sys
import threading
import time
import uuid

__all__ = ["FakeNova", "MODES", "BADJSON_BODY", "BADJSON_OFFSET"]

BADJSON_BODY = b'{"version": {"id": "v2.1", "status": '
BADJSON_OFFSET = 37          # == len(BADJSON_BODY)
assert len(BADJSON_BODY) == BADJSON_OFFSET

_COMMON = {"delay_ms": float, "framing": str, "version": str, "min_version": str}
MODES = {
    "healthy": {},
    "http500": {"code": int},
    "refused": {},
    "hang": {},
    "trickle": {"interval_ms": float, "chunk": int},
    "badjson": {"kind": str},
    "oversized": {"size": int},
    "wrong": {"variant": str, "status": str},
    "html": {},
    "healthcheck_disabled": {},
    "slow": {},
    "close": {},
    "reset": {},
}
_DEFAULTS = {
    "delay_ms": 0.0, "framing": "length", "code": 500, "interval_ms": 200.0,
    "chunk": 1, "kind": "truncated", "size": 200 * 1024,
    "variant": "supported", "status": "SUPPORTED",
}
_CHOICES = {
    "framing": ("length", "close", "chunked"),
    "kind": ("truncated", "garbage"),
    "variant": ("supported", "missing"),
}
_REASONS = {200: "OK", 302: "Found", 400: "Bad Request", 404: "Not Found",
            405: "Method Not Allowed", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable",
            504: "Gateway Timeout"}
_MAX_HEAD = 64 * 1024
_READ_TIMEOUT = 30.0
_LOG_MAX = 100000


def _check_loopback(addr):
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        raise ValueError("not an IP address: %r" % (addr,))
    if ip.version != 4 or ip not in ipaddress.ip_network("127.0.0.0/8"):
        raise ValueError("refusing non-loopback address %s (need 127.0.0.0/8)"
                         % addr)
    return str(ip)


def _validate(mode, params):
    """Return a complete, typed parameter dict or raise ValueError."""
    if mode not in MODES:
        raise ValueError("unknown mode %r (known: %s)"
                         % (mode, " ".join(sorted(MODES))))
    allowed = dict(_COMMON)
    allowed.update(MODES[mode])
    out = {k: _DEFAULTS[k] for k in allowed if k in _DEFAULTS}
    for k, v in params.items():
        if k not in allowed:
            raise ValueError("mode %s takes no parameter %r (allowed: %s)"
                             % (mode, k, " ".join(sorted(allowed))))
        try:
            v = allowed[k](v)
        except (TypeError, ValueError):
            raise ValueError("bad value for %s: %r" % (k, v))
        if k in _CHOICES and v not in _CHOICES[k]:
            raise ValueError("%s must be one of %s" % (k, "|".join(_CHOICES[k])))
        if allowed[k] in (int, float) and v < 0:
            raise ValueError("%s must be >= 0" % k)
        out[k] = v
    if mode == "slow" and "delay_ms" not in params:
        out["delay_ms"] = 1200.0
    if mode == "trickle" and out["chunk"] < 1:
        raise ValueError("chunk must be >= 1")
    if mode == "http500" and not 100 <= out["code"] <= 599:
        raise ValueError("code must be 100..599")
    return out


class _Gone(Exception):
    """Client went away or the server is stopping."""


class FakeNova(object):
    def __init__(self, listen_addr, port, control_port=None, version="2.93",
                 min_version="2.1", mode="healthy", control_addr=None,
                 verbose=False, **mode_params):
        self.listen_addr = _check_loopback(listen_addr)
        self.port = int(port)
        self.control_addr = _check_loopback(control_addr or listen_addr)
        self.control_port = None if control_port is None else int(control_port)
        self.version = str(version)
        self.min_version = str(min_version)
        self.verbose = verbose
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._mode = mode
        self._params = _validate(mode, mode_params)
        self._gen = threading.Event()       # set when the mode changes
        self._seq = 0                        # mode change sequence
        self._applied = -1                   # seq the accept loop has applied
        self._apply_err = None
        self._requests = 0
        self._connections = 0
        self._log = collections.deque(maxlen=_LOG_MAX)
        self._conns = set()
        self._threads = set()
        self._stopping = threading.Event()
        self._lsock = None
        self._csock = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._accept_thread = None
        self._control_thread = None
        self._started = False
        self.shutdown_requested = threading.Event()

    # ------------------------------------------------------------ public API
    @property
    def mode(self):
        with self._lock:
            return self._mode

    @property
    def params(self):
        with self._lock:
            return dict(self._params)

    @property
    def requests(self):
        with self._lock:
            return self._requests

    @property
    def connections(self):
        """Number of accepted HTTP connections (including ones with no request)."""
        with self._lock:
            return self._connections

    @property
    def log(self):
        """List of (time.time(), path, mode) per request received."""
        with self._lock:
            return list(self._log)

    @property
    def listening(self):
        with self._lock:
            return self._lsock is not None

    @property
    def url(self):
        return "http://%s:%d/v2.1/" % (self.listen_addr, self.port)

    def reset_counters(self):
        with self._lock:
            self._requests = 0
            self._log.clear()

    def wait_for_requests(self, n, timeout=5.0):
        """Wait until at least n requests were received; return True/False."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.requests >= n:
                return True
            time.sleep(0.01)
        return self.requests >= n

    def start(self):
        if self._started:
            raise RuntimeError("already started")
        self._started = True
        # Bind now so that errors surface here and port 0 gets resolved.
        self._lsock = self._bind(self.listen_addr, self.port)
        self.port = self._lsock.getsockname()[1]
        if self._mode == "refused":
            self._lsock.close()
            self._lsock = None
        if self.control_port is not None:
            self._csock = self._bind(self.control_addr, self.control_port)
            self.control_port = self._csock.getsockname()[1]
            self._control_thread = self._spawn(self._control_loop, "control")
        with self._lock:
            self._applied = self._seq
        self._accept_thread = self._spawn(self._accept_loop, "accept")
        return self

    def set_mode(self, mode, **params):
        """Switch mode; when this returns the listening state matches it."""
        p = _validate(mode, params)
        with self._lock:
            if self._stopping.is_set():
                raise RuntimeError("stopped")
            self._mode = mode
            self._params = p
            self._gen.set()
            self._gen = threading.Event()
            self._seq += 1
            seq = self._seq
            victims = list(self._conns) if mode == "refused" else []
        for c in victims:
            self._abort(c)
        if not self._started:
            return
        self._wake()
        deadline = time.monotonic() + 3.0
        with self._cond:
            while self._applied < seq and not self._stopping.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError("mode switch not applied in time")
                self._cond.wait(left)
            if self._apply_err is not None:
                err, self._apply_err = self._apply_err, None
                raise err

    def stop(self):
        if self._stopping.is_set():
            return
        self._stopping.set()
        with self._lock:
            self._gen.set()
            conns = list(self._conns)
        self._wake()
        for s in (self._csock,):
            if s is not None:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        for c in conns:
            self._abort(c)
        deadline = time.monotonic() + 0.9
        me = threading.current_thread()
        for t in [self._accept_thread, self._control_thread] + list(self._threads):
            if t is not None and t is not me and t.is_alive():
                t.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            if self._lsock is not None:
                self._lsock.close()
                self._lsock = None
        if self._csock is not None:
            self._csock.close()
        for s in (self._wake_r, self._wake_w):
            try:
                s.close()
            except OSError:
                pass

    def __enter__(self):
        if not self._started:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------ internals
    def _say(self, msg):
        if self.verbose:
            sys.stderr.write("fake_nova: %s\n" % msg)
            sys.stderr.flush()

    def _spawn(self, fn, name, *args):
        t = threading.Thread(target=self._run_tracked, args=(fn,) + args,
                             name="fake_nova-" + name, daemon=True)
        with self._lock:
            self._threads.add(t)
        t.start()
        return t

    def _run_tracked(self, fn, *args):
        try:
            fn(*args)
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    @staticmethod
    def _bind(addr, port):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, port))
            s.listen(1024)
        except Exception:
            s.close()
            raise
        return s

    def _wake(self):
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    @staticmethod
    def _abort(c):
        try:
            c.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _accept_loop(self):
        sel = selectors.DefaultSelector()
        sel.register(self._wake_r, selectors.EVENT_READ)
        registered = None
        try:
            while True:
                with self._cond:
                    seq = self._seq
                    want = (not self._stopping.is_set()
                            and self._mode != "refused")
                    if want and self._lsock is None:
                        try:
                            self._lsock = self._bind(self.listen_addr, self.port)
                            self._say("listening again on %d" % self.port)
                        except OSError as e:
                            self._apply_err = e
                    elif not want and self._lsock is not None:
                        if registered is not None:
                            sel.unregister(registered)
                            registered = None
                        self._lsock.close()
                        self._lsock = None
                        self._say("listening socket closed")
                    if self._lsock is not None and registered is None:
                        registered = self._lsock
                        sel.register(registered, selectors.EVENT_READ)
                    self._applied = seq
                    self._cond.notify_all()
                    lsock = self._lsock
                if self._stopping.is_set():
                    return
                for key, _ in sel.select(1.0):
                    if key.fileobj is self._wake_r:
                        try:
                            self._wake_r.recv(4096)
                        except OSError:
                            pass
                    elif key.fileobj is lsock:
                        for _ in range(64):
                            try:
                                lsock.setblocking(False)
                                conn, peer = lsock.accept()
                            except (BlockingIOError, InterruptedError):
                                break
                            except OSError:
                                break
                            conn.setblocking(True)
                            with self._lock:
                                if self._stopping.is_set():
                                    conn.close()
                                    break
                                self._conns.add(conn)
                                self._connections += 1
                            self._spawn(self._serve, "client", conn)
        finally:
            sel.close()
            with self._cond:
                self._applied = self._seq
                self._cond.notify_all()

    # ---- HTTP side
    def _serve(self, conn):
        try:
            conn.settimeout(_READ_TIMEOUT)
            req = self._read_request(conn)
            if req is None:
                return
            method, target, headers = req
            path = target.split("?", 1)[0].split("#", 1)[0]
            with self._lock:
                mode, p, gen = self._mode, dict(self._params), self._gen
                self._requests += 1
                self._log.append((time.time(), path, mode))
            self._say("%s %s mode=%s" % (method, target, mode))
            self._respond(conn, mode, p, gen, method, path, headers)
        except (_Gone, OSError):
            pass
        finally:
            with self._lock:
                self._conns.discard(conn)
            try:
                conn.close()
            except OSError:
                pass

    def _read_request(self, conn):
        buf = b""
        while True:
            i = buf.find(b"\r\n\r\n")
            j = buf.find(b"\n\n")
            if i >= 0 or j >= 0:
                end = i + 4 if i >= 0 and (j < 0 or i < j) else j + 2
                break
            if len(buf) > _MAX_HEAD:
                self._send(conn, self._simple(400, "text/plain", b"Bad Request\n"))
                return None
            try:
                data = conn.recv(65536)
            except socket.timeout:
                return None
            if not data:
                return None
            buf += data
        head = buf[:end].decode("latin-1").replace("\r\n", "\n").split("\n")
        parts = head[0].split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            self._send(conn, self._simple(400, "text/plain", b"Bad Request\n"))
            return None
        headers = {}
        for line in head[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        # Discard a request body if one was announced (bounded).
        try:
            clen = min(int(headers.get("content-length", "0")), 1 << 20)
        except ValueError:
            clen = 0
        rest = len(buf) - end
        while rest < clen:
            try:
                data = conn.recv(min(65536, clen - rest))
            except socket.timeout:
                break
            if not data:
                break
            rest += len(data)
        return parts[0], parts[1], headers

    def _sleep(self, seconds):
        if seconds > 0 and self._stopping.wait(seconds):
            raise _Gone()

    def _send(self, conn, data):
        if self._stopping.is_set():
            raise _Gone()
        conn.sendall(data)

    def _version_doc(self, host, path, p, status="CURRENT"):
        return {
            "id": "v2.1",
            "status": status,
            "version": p.get("version") or self.version,
            "min_version": p.get("min_version") or self.min_version,
            "updated": "2013-07-23T11:33:21Z",
            "links": [
                {"rel": "self", "href": "http://%s%s" % (host, path)},
                {"rel": "describedby", "type": "text/html",
                 "href": "http://docs.openstack.org/"},
            ],
            "media-types": [
                {"base": "application/json",
                 "type": "application/vnd.openstack.compute+json;version=2.1"},
            ],
        }

    def _body_for(self, mode, p, method, path, host):
        """Return (status, content_type, body_bytes, extra_headers)."""
        j = "application/json"
        if method not in ("GET", "HEAD"):
            return 405, j, b'{"error": "method not allowed"}', []
        if mode == "http500":
            code = p["code"]
            body = json.dumps({"computeFault": {
                "code": code,
                "message": "The server has either erred or is incapable of "
                           "performing the requested operation."}})
            return code, j, body.encode(), []
        if path == "/healthcheck":
            if mode == "healthcheck_disabled":
                return 503, "text/plain; charset=UTF-8", b"DISABLED BY FILE", []
            return 200, "text/plain; charset=UTF-8", b"OK", []
        is_doc = path.endswith("/v2.1/")
        is_root = path == "/"
        if path.endswith("/v2.1"):
            return 302, "text/plain; charset=UTF-8", b"", [
                ("Location", "http://%s%s/" % (host, path))]
        if not (is_doc or is_root):
            return 404, j, json.dumps({"itemNotFound": {
                "code": 404, "message": "The resource could not be found."}}
            ).encode(), []
        if mode == "html":
            return 200, "text/html; charset=UTF-8", (
                b"<!DOCTYPE html>\n<html><head><title>Welcome</title></head>"
                b"<body><h1>It works!</h1></body></html>\n"), []
        if mode == "badjson":
            body = BADJSON_BODY + (b"#}}" if p["kind"] == "garbage" else b"")
            return 200, j, body, []
        docpath = path if is_doc else "/v2.1/"
        if mode == "wrong":
            if p["variant"] == "missing" or is_root:
                doc = {"versions": [self._version_doc(host, docpath, p)]}
            else:
                doc = {"version": self._version_doc(host, docpath, p,
                                                    p["status"])}
            return 200, j, json.dumps(doc).encode(), []
        if is_root:
            doc = {"versions": [self._version_doc(host, docpath, p)]}
            return 200, j, json.dumps(doc).encode(), []
        doc = {"version": self._version_doc(host, docpath, p)}
        body = json.dumps(doc)
        if mode == "oversized":
            size = p["size"]
            prefix = body[:-1] + ', "padding": "'
            suffix = '"}'
            pad = max(0, size - len(prefix) - len(suffix))
            body = prefix + "x" * pad + suffix
        return 200, j, body.encode(), [
            ("OpenStack-API-Version", "compute 2.1"),
            ("X-OpenStack-Nova-API-Version", "2.1"),
            ("Vary", "OpenStack-API-Version, X-OpenStack-Nova-API-Version")]

    @staticmethod
    def _head(status, ctype, extra, framing, length):
        lines = ["HTTP/1.1 %d %s" % (status, _REASONS.get(status, "Status")),
                 "Content-Type: %s" % ctype]
        if framing == "length":
            lines.append("Content-Length: %d" % length)
        elif framing == "chunked":
            lines.append("Transfer-Encoding: chunked")
        for k, v in extra:
            lines.append("%s: %s" % (k, v))
        lines.append("X-Openstack-Request-Id: req-%s" % uuid.uuid4())
        lines.append("Date: %s" % time.strftime("%a, %d %b %Y %H:%M:%S GMT",
                                                time.gmtime()))
        lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _simple(self, status, ctype, body):
        return self._head(status, ctype, [], "length", len(body)) + body

    def _respond(self, conn, mode, p, gen, method, path, headers):
        if mode == "refused":
            # Accepted in the instant before the socket was closed.
            self._rst(conn)
            return
        if mode in ("hang", "close", "reset"):
            if mode == "hang":
                self._hang(conn, gen)
            elif mode == "reset":
                self._rst(conn)
            return
        self._sleep(p["delay_ms"] / 1000.0)
        host = headers.get("host") or "%s:%d" % (self.listen_addr, self.port)
        status, ctype, body, extra = self._body_for(mode, p, method, path, host)
        framing = p["framing"]
        if method == "HEAD":
            self._send(conn, self._head(status, ctype, extra, framing, len(body)))
            return
        self._send(conn, self._head(status, ctype, extra, framing, len(body)))
        if mode == "trickle":
            step, ival = p["chunk"], p["interval_ms"] / 1000.0
            pieces = [body[i:i + step] for i in range(0, len(body), step)]
        else:
            ival = 0.0
            pieces = [body[i:i + 65536] for i in range(0, len(body), 65536)]
        for n, piece in enumerate(pieces):
            if n and ival:
                self._sleep(ival)
            if framing == "chunked":
                piece = b"%x\r\n%s\r\n" % (len(piece), piece)
            self._send(conn, piece)
        if framing == "chunked":
            self._send(conn, b"0\r\n\r\n")
        try:
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _hang(self, conn, gen):
        conn.settimeout(0.05)
        while not gen.is_set() and not self._stopping.is_set():
            try:
                if not conn.recv(65536):
                    return              # client closed
            except socket.timeout:
                continue
            except OSError:
                return

    @staticmethod
    def _rst(conn):
        try:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            struct.pack("ii", 1, 0))
        except OSError:
            pass

    # ---- control side
    def _control_loop(self):
        while not self._stopping.is_set():
            try:
                c, _ = self._csock.accept()
            except OSError:
                return
            with self._lock:
                if self._stopping.is_set():
                    c.close()
                    return
                self._conns.add(c)
            self._spawn(self._control_conn, "ctl", c)

    def _control_conn(self, c):
        try:
            buf = b""
            while not self._stopping.is_set():
                data = c.recv(4096)
                if not data:
                    return
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    reply, close = self._command(line.decode("utf-8", "replace"))
                    c.sendall((reply + "\n").encode())
                    if close == "quit":
                        return
                    if close == "shutdown":
                        self.shutdown_requested.set()
                        threading.Thread(target=self.stop, daemon=True).start()
                        return
                if len(buf) > 65536:
                    c.sendall(b"err line too long\n")
                    return
        except OSError:
            pass
        finally:
            with self._lock:
                self._conns.discard(c)
            try:
                c.close()
            except OSError:
                pass

    def _command(self, line):
        words = line.strip().split()
        if not words:
            return "err empty command", None
        cmd, args = words[0].lower(), words[1:]
        try:
            if cmd == "mode":
                if not args:
                    return "err usage: mode NAME [key=value ...]", None
                params = {}
                for a in args[1:]:
                    if "=" not in a:
                        return "err bad parameter %r (want key=value)" % a, None
                    k, v = a.split("=", 1)
                    params[k] = v
                self.set_mode(args[0], **params)
                return "ok", None
            if cmd == "status":
                with self._lock:
                    return ("ok mode=%s requests=%d connections=%d listening=%d"
                            % (self._mode, self._requests, self._connections,
                               self._lsock is not None)), None
            if cmd == "requests":
                return "ok %d" % self.requests, None
            if cmd == "log":
                entries = self.log
                if args:
                    n = int(args[0])
                    entries = entries[-n:] if n > 0 else []
                return "ok " + json.dumps([list(e) for e in entries]), None
            if cmd == "reset":
                self.reset_counters()
                return "ok", None
            if cmd == "ping":
                return "ok", None
            if cmd == "quit":
                return "ok", "quit"
            if cmd == "shutdown":
                return "ok", "shutdown"
            return "err unknown command %r" % cmd, None
        except (ValueError, RuntimeError, OSError) as e:
            return "err %s" % str(e).replace("\n", " "), None


def control(addr, port, line, timeout=5.0):
    """Send one control command, return the reply line (without newline)."""
    with socket.create_connection((_check_loopback(addr), port), timeout) as s:
        s.sendall(line.rstrip("\n").encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            d = s.recv(65536)
            if not d:
                break
            buf += d
        return buf.decode().rstrip("\n")


def _hostport(s):
    host, sep, port = s.rpartition(":")
    if not sep:
        raise argparse.ArgumentTypeError("want ADDR:PORT, got %r" % s)
    try:
        return _check_loopback(host), int(port)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))


def main(argv=None):
    ap = argparse.ArgumentParser(description="fake nova-api for tests")
    ap.add_argument("--listen", required=True, type=_hostport)
    ap.add_argument("--control", type=_hostport)
    ap.add_argument("--mode", default="healthy", choices=sorted(MODES))
    ap.add_argument("--version", default="2.93")
    ap.add_argument("--min-version", default="2.1")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    threading.stack_size(512 * 1024)
    fn = FakeNova(a.listen[0], a.listen[1],
                  control_port=a.control[1] if a.control else None,
                  control_addr=a.control[0] if a.control else None,
                  version=a.version, min_version=a.min_version, mode=a.mode,
                  verbose=a.verbose)
    done = threading.Event()

    def on_signal(signum, frame):
        done.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        fn.start()
    except OSError as e:
        sys.stderr.write("fake_nova: %s\n" % e)
        return 1
    print("ready listen=%s:%d control=%s" % (
        fn.listen_addr, fn.port,
        "%s:%d" % (fn.control_addr, fn.control_port) if a.control else "-"),
        flush=True)
    while not done.is_set() and not fn.shutdown_requested.is_set():
        done.wait(0.2)
    fn.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
