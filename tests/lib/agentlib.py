#!/usr/bin/python3
"""Run the real zdu-agent daemon and its CLI in integration tests (stdlib only).

Quick use::

    from agentlib import Agent, check, main

    def run():
        with Agent(weight=100) as a:              # temp dir, free port on 127.0.0.1, started
            check(a.reply() == 'up ready 100%', 'ready reply', a.reply())
            r = a.cli('--maintenance', 'on', '--reason', 'upgrade')
            check(r.returncode == 0, 'CLI exit 0', r)
            check(a.reply() == 'up drain #maintenance: upgrade', 'drain reply')

    if __name__ == '__main__':
        main(run)

agent_binary() -> str
    $ZDU_AGENT, else $ZDU_BUILD_DIR/agent/zdu-agent, else ../../build/agent/zdu-agent.

Agent(workdir=None, addr='127.0.0.1', port=None, weight=100, flag_file=None,
      control_socket=None, settings=None, extra_text='', name='agent', env=None)
    One daemon, configured by a libconfig file it writes into WORKDIR (default: a new
    testutil.tempdir()). PORT None: a free one (start() retries with another if it was taken
    meanwhile). SETTINGS: {'agent': {'max_connections': 50}, 'flag': {...}, ...} merged over
    the defaults below; values are Python ints/bools/strs/lists. EXTRA_TEXT is appended
    verbatim (to write broken configs). ENV: variables added to the daemon's environment
    (e.g. LD_PRELOAD of a fault-injection shim). Defaults: probe disabled, log level info,
    flag.poll_interval_ms 60000 (so that latency tests measure the file watch, not the
    poll), flag file WORKDIR/flagdir/maintenance, control socket WORKDIR/control.sock.
  Attributes: addr, port, workdir, cfg_path, flag_path, flag_dir, sock_path, log_path, proc.
  config_text() / write_config()    the file the constructor and start() write.
  start(wait=True, timeout=15)      run `zdu-agent --config CFG --foreground` (testutil.Proc,
                                    output to WORKDIR/NAME.log); with WAIT, returns once the
                                    control socket answers 'ping' and the agent port answers.
                                    Raises AgentExited (rc + log tail) if it exits meanwhile.
  stop(sig=SIGTERM, timeout=10) -> rc      kill() -> rc (SIGKILL, leaves the socket behind)
  hup()                             SIGHUP (reload).
  running() -> bool
  probe(send=b'', timeout=2) -> (bytes, seconds)   one agent-check connection (testutil).
  reply(send=b'') -> str            the reply line without its newline.
  first_reply_after_start(timeout=15) -> str   start() probing the port every 5 ms: the first
                                    reply any client got (as reply()); returns once ready.
  wait_reply(pred_or_str, timeout=5, interval=0.005) -> (reply, seconds)
                                    polls the port until the reply equals the string (or
                                    pred(reply) is true); returns it and the time waited.
  control(request='status', timeout=5) -> dict     one control-socket request, parsed JSON.
  status() -> dict                  control('status').
  cli(*args, timeout=30, config=True) -> subprocess.CompletedProcess (text; stdout, stderr)
                                    `zdu-agent --config CFG ARGS...` (config=False: no --config).
  run_foreground(timeout=15) -> CompletedProcess   runs the daemon expecting it to EXIT
                                    (start-error tests); kills it and raises if it does not.
  log_text() / wait_log(substring_or_regex, timeout=5, start=0) -> str;  log_size()
  reply_changes(start=0) -> [(epoch, reply)]   when the agent switched its reply, from its log.
  rss_kb() -> int                   VmRSS of the running daemon.
  write_flag(text_or_bytes, atomic=True)   writes the flag file (tmp + rename, or in place).
  remove_flag()

check(cond, what, detail=None)      prints 'ok: WHAT' or raises AssertionError('WHAT: DETAIL').
check_within(pred, timeout, what, detail=None, interval=0.05)
                                    the check WHAT is pred() becoming true within TIMEOUT s
                                    (testutil): prints 'ok: WHAT (after X s)' or raises.
check_holds(pred, seconds, what, detail=None, interval=0.05)
                                    the check WHAT is pred() staying true for SECONDS.
main(fn)                            runs fn(), prints PASS/FAIL, exits 0/1; processes are
                                    stopped at exit.
run_cli(args, timeout=30) -> CompletedProcess   the agent binary with ARGS.
"""

import datetime
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import traceback

from testutil import (Proc, WaitTimeout, agent_probe, check_holds, check_loopback, check_within,
                      free_port, tempdir, wait_until)

__all__ = ['Agent', 'AgentExited', 'agent_binary', 'check', 'check_holds', 'check_within',
           'cli_expect', 'main', 'run_cli', 'libconfig_value']


class AgentExited(RuntimeError):
    """The daemon exited while a test expected it to run."""


def agent_binary():
    b = os.environ.get('ZDU_AGENT')
    if not b and os.environ.get('ZDU_BUILD_DIR'):
        b = os.path.join(os.environ['ZDU_BUILD_DIR'], 'agent', 'zdu-agent')
    if not b:
        here = os.path.dirname(os.path.abspath(__file__))
        b = os.path.join(here, '..', '..', 'build', 'agent', 'zdu-agent')
    b = os.path.abspath(b)
    if not os.access(b, os.X_OK):
        raise RuntimeError('zdu-agent binary not found: %s (set ZDU_AGENT)' % b)
    return b


def _env():
    env = dict(os.environ)
    env.pop('JOURNAL_STREAM', None)       # the agent would log "<N>msg" for the journal
    env.pop('NOTIFY_SOCKET', None)
    return env


def run_cli(args, timeout=30):
    argv = [agent_binary()] + [str(a) for a in args]
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, env=_env())


def libconfig_value(v):
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return '[ ' + ', '.join(libconfig_value(x) for x in v) + ' ]'
    s = str(v)
    return '"%s"' % s.replace('\\', '\\\\').replace('"', '\\"')


def cli_expect(agent, *args, want_rc=0):
    """`zdu-agent ARGS` for AGENT, its output printed, checked to exit WANT_RC; returns it."""
    r = agent.cli(*args)
    print('$ zdu-agent %s -> exit %d\n  stdout: %s\n  stderr: %s' % (
        ' '.join(args), r.returncode, r.stdout.strip()[:300], r.stderr.strip()[:300]),
        flush=True)
    check(r.returncode == want_rc, '%s: exit %d' % (' '.join(args), want_rc),
          (r.returncode, r.stdout, r.stderr))
    return r


def check(cond, what, detail=None):
    if not cond:
        raise AssertionError('%s%s' % (what, '' if detail is None else ': %r' % (detail,)))
    print('ok: %s' % what, flush=True)


def main(fn):
    """Run FN(); exit 0 if it returns, 1 (with the traceback) if it raises."""
    t0 = time.monotonic()
    print('zdu-agent under test: %s' % agent_binary(), flush=True)
    try:
        fn()
    except BaseException as e:  # noqa: B902 - report everything, including WaitTimeout
        traceback.print_exc()
        for a in list(Agent.instances):
            sys.stdout.write('--- log of %s (%s), last 30 lines:\n%s\n'
                             % (a.name, a.log_path, a.log_tail(30)))
        print('FAIL (%.1fs): %s' % (time.monotonic() - t0, e), flush=True)
        sys.stdout.flush()
        sys.exit(1)
    print('PASS (%.1fs)' % (time.monotonic() - t0), flush=True)
    sys.exit(0)


class Agent:
    instances = []

    def __init__(self, workdir=None, addr='127.0.0.1', port=None, weight=100, flag_file=None,
                 control_socket=None, settings=None, extra_text='', name='agent', start=True,
                 env=None):
        check_loopback(addr)
        self.env = env or {}
        self.workdir = os.path.abspath(workdir or tempdir('zdu-it-'))
        self.name = name
        self.addr = addr
        self._fixed_port = port is not None
        self.port = port if port is not None else free_port(addr)
        self.flag_path = flag_file or os.path.join(self.workdir, 'flagdir', 'maintenance')
        self.flag_dir = os.path.dirname(self.flag_path)
        if flag_file is None:
            os.makedirs(self.flag_dir, exist_ok=True)
        self.sock_path = control_socket or os.path.join(self.workdir, name + '.sock')
        if len(self.sock_path.encode()) >= 108:
            raise ValueError('control socket path too long: %s' % self.sock_path)
        self.cfg_path = os.path.join(self.workdir, name + '.conf')
        self.log_path = os.path.join(self.workdir, name + '.log')
        self.weight = weight
        self.settings = settings or {}
        self.extra_text = extra_text
        self.proc = None
        self._autostart = start
        Agent.instances.append(self)
        self.write_config()

    # ------------------------------------------------------------ config
    def config_groups(self):
        groups = {
            'agent': {'listen': ['%s:%d' % (self.addr, self.port)], 'weight': self.weight},
            'flag': {'file': self.flag_path, 'poll_interval_ms': 60000},
            'control': {'socket': self.sock_path},
            'probe': {'enabled': False},
            'log': {'level': 'info'},
        }
        for g, kv in self.settings.items():
            groups.setdefault(g, {}).update(kv)
        return groups

    def config_text(self):
        lines = ['# written by tests/lib/agentlib.py']
        for g, kv in self.config_groups().items():
            lines.append('%s: {' % g)
            for k, v in kv.items():
                lines.append('  %s = %s;' % (k, libconfig_value(v)))
            lines.append('};')
        text = '\n'.join(lines) + '\n'
        if self.extra_text:
            text += self.extra_text
        return text

    def write_config(self, text=None):
        tmp = self.cfg_path + '.tmp'
        with open(tmp, 'w') as f:
            f.write(self.config_text() if text is None else text)
        os.rename(tmp, self.cfg_path)
        return self.cfg_path

    # ------------------------------------------------------------ process
    def start(self, wait=True, timeout=15.0):
        for attempt in range(5):
            self.write_config()
            self.proc = Proc([agent_binary(), '--config', self.cfg_path, '--foreground'],
                             self.log_path, env=dict(_env(), **self.env))
            if not wait:
                return self
            try:
                self.wait_ready(timeout)
                return self
            except AgentExited:
                # The free port was taken between free_port() and bind(): try another.
                if (not self._fixed_port and attempt < 4
                        and 'cannot listen on %s:%d' % (self.addr, self.port) in self.log_text()):
                    self.port = free_port(self.addr)
                    continue
                raise
        return self

    def wait_ready(self, timeout=15.0):
        def ready():
            if not self.proc.alive():
                return 'exited'
            try:
                if not self.control('ping', timeout=2).get('ok'):
                    return None
                self.probe(timeout=2)
            except (OSError, ValueError, TimeoutError):
                return None
            return 'ready'
        try:
            res = wait_until(ready, timeout=timeout, interval=0.02,
                             message=lambda: 'agent %s ready; log:\n%s' % (self.name, self.log_tail()))
        except WaitTimeout:
            self.stop()
            raise
        if res == 'exited':
            raise AgentExited('zdu-agent exited with %s:\n%s' % (self.proc.wait(), self.log_tail()))

    def running(self):
        return self.proc is not None and self.proc.alive()

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        if self.proc is None:
            return None
        return self.proc.stop(timeout=timeout, sig=sig)

    def kill(self):
        return self.stop(sig=signal.SIGKILL)

    def hup(self):
        self.proc.send_signal(signal.SIGHUP)

    def run_foreground(self, timeout=15.0, args=('--foreground',)):
        """Run the daemon expecting it to exit on its own (start errors)."""
        self.write_config()
        argv = [agent_binary(), '--config', self.cfg_path] + list(args)
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=_env())
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            raise AssertionError('zdu-agent did not exit within %.0fs (it should have failed); '
                                 'stderr: %s' % (timeout, err[-2000:]))
        return subprocess.CompletedProcess(argv, p.returncode, out, err)

    def __enter__(self):
        if self._autostart and not self.running():
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------ talking to it
    def probe(self, send=b'', timeout=2.0):
        return agent_probe(self.addr, self.port, send=send, timeout=timeout)

    @staticmethod
    def _line(data):
        text = data.decode('utf-8', 'replace')
        if not text.endswith('\n') or text.count('\n') != 1:
            raise AssertionError('agent reply is not one line ending in a newline: %r' % (text,))
        return text[:-1]

    def reply(self, send=b'', timeout=2.0):
        data, _ = self.probe(send, timeout)
        return self._line(data)

    def first_reply_after_start(self, timeout=15.0):
        """Start the daemon and probe its port every 5 ms from that moment: the reply the
        first client that connects gets (checked and returned as reply() does: one line,
        without its newline). Returns once the daemon is ready (wait_ready); raises
        AgentExited at once if it exits first."""
        self.start(wait=False)
        t0 = time.monotonic()

        def poll():
            if not self.proc.alive():
                return 'exited'
            try:
                data, _ = self.probe(timeout=2)
            except ConnectionRefusedError:
                return None
            return ('answered', data)
        res = wait_until(poll, timeout=timeout, interval=0.005,
                         message=lambda: 'agent %s port answering; log:\n%s' % (self.name,
                                                                               self.log_tail()))
        if res == 'exited':
            raise AgentExited('zdu-agent exited with %s before its port answered:\n%s'
                              % (self.proc.wait(), self.log_tail()))
        print('first reply %.0f ms after the start: %r' % ((time.monotonic() - t0) * 1000,
                                                            res[1].decode('utf-8', 'replace')),
              flush=True)
        self.wait_ready(timeout)
        return self._line(res[1])

    def wait_reply(self, want, timeout=5.0, interval=0.005):
        pred = want if callable(want) else (lambda r: r == want)
        t0 = time.monotonic()
        last = {}

        def poll():
            r = self.reply()
            last['r'] = r
            return pred(r)
        wait_until(poll, timeout=timeout, interval=interval,
                   message=lambda: 'agent reply %r (last %r)' % (want, last.get('r')))
        return last['r'], time.monotonic() - t0

    def control(self, request='status', timeout=5.0):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.sock_path)
            s.sendall(request.encode() + b'\n')
            buf = b''
            while b'\n' not in buf:
                d = s.recv(65536)
                if not d:
                    break
                buf += d
        return json.loads(buf.decode())

    def status(self):
        return self.control('status')

    def cli(self, *args, timeout=30.0, config=True):
        return run_cli((['--config', self.cfg_path] if config else []) + list(args), timeout)

    # ------------------------------------------------------------ flag file
    def write_flag(self, content, atomic=True):
        data = content.encode() if isinstance(content, str) else content
        if atomic:
            tmp = os.path.join(self.flag_dir, '.%s.test-tmp' % os.path.basename(self.flag_path))
            with open(tmp, 'wb') as f:
                f.write(data)
            os.rename(tmp, self.flag_path)
        else:
            with open(self.flag_path, 'wb') as f:
                f.write(data)

    def remove_flag(self):
        try:
            os.unlink(self.flag_path)
        except FileNotFoundError:
            pass

    # ------------------------------------------------------------ logs, memory
    def log_text(self):
        try:
            with open(self.log_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    def log_tail(self, n=20):
        return '\n'.join(self.log_text().splitlines()[-n:])

    def wait_log(self, pattern, timeout=5.0, start=0):
        """Wait until the log (from offset START) contains PATTERN (str, or compiled regex)."""
        def found():
            text = self.log_text()[start:]
            if hasattr(pattern, 'search'):
                m = pattern.search(text)
                return m.group(0) if m else None
            return pattern if pattern in text else None
        return wait_until(found, timeout=timeout, interval=0.02,
                          message=lambda: 'log line %r; log tail:\n%s' % (
                              getattr(pattern, 'pattern', pattern), self.log_tail()))

    _CHANGE_RE = re.compile(r'^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z \w+: reply now "(.*)" \(was ',
                            re.M)

    def reply_changes(self, start=0):
        """[(wall-clock epoch seconds, new reply)] from the log's 'reply now' lines after
        offset START: when the agent itself switched its reply (ms resolution)."""
        out = []
        for m in self._CHANGE_RE.finditer(self.log_text()[start:]):
            t = datetime.datetime.strptime(m.group(1), '%Y-%m-%dT%H:%M:%S.%f')
            out.append((t.replace(tzinfo=datetime.timezone.utc).timestamp(), m.group(2)))
        return out

    def log_size(self):
        return len(self.log_text())

    def rss_kb(self):
        with open('/proc/%d/status' % self.proc.pid) as f:
            m = re.search(r'^VmRSS:\s+(\d+) kB', f.read(), re.M)
        return int(m.group(1))
