#!/usr/bin/python3
"""Helpers for the nova-api probe integration tests (stdlib only).

    nova = NovaProc(workdir, mode='healthy', **params)
        tests/lib/fake_nova.py as its own process (so that its threads never
        share a GIL with the test's timing loops), listening on 127.0.0.1:0 and
        controlled over its control port.  .url (the version document),
        .hc_url (/healthcheck), .port, .set_mode(name, **params),
        .requests(), .status(), .stop(); context manager.

    probe_settings(url, **overrides) -> {'probe': {...}}   for agentlib.Agent(settings=...)
                                     (interval 400 ms, timeout 300 ms, rise 2, fall 3)

    watch(agent, until, timeout, interval=0.01, what=None) -> (snapshots, seconds)
                                     polls the status JSON (reply, health and probe counters
                                     come from the same instant of the daemon) until
                                     until(snapshot) is true; returns every snapshot taken
                                     (the last one satisfies until).
    short(snapshot) -> dict          its probe counters, for messages.
    weight_of(reply) -> int|None     the N of 'N%' in a reply.
    op_token(reply) -> 'up'|'down'|None
    stop_clean(agent)                SIGTERM; asserts exit 0 and no sanitizer report in its log.

    real_nova_or_skip()              Debian's nova-api (tests/nova/install-deps): installs it if
                                     needed; exits 77 (CTest: skipped) only if it cannot be had.
    nova_node(*args, env=None, timeout=120) -> seconds
                                     tests/nova/nova-node ARGS: setup DIR, start DIR ADDR PORT
                                     [VERSION], stop DIR (a real nova-api under uwsgi).
"""

import os
import re
import subprocess
import sys
import time

from testutil import Proc, WaitTimeout, wait_until

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fake_nova  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = '/usr/bin/python3'
SRC = os.environ.get('ZDU_SOURCE_DIR') or os.path.join(HERE, '..', '..')
NOVA_NODE = os.path.join(SRC, 'tests', 'nova', 'nova-node')
INSTALL_DEPS = os.path.join(SRC, 'tests', 'nova', 'install-deps')
HEALTHY_REPLY = 'up ready 100% #nova-api 2.93'   # the fake nova's default version


def installed_nova_max(default='2.93'):
    """The installed python3-nova's maximum microversion, as its real nova-api answers it:
    2.93 on Debian 12 (Zed), 2.100 on Debian 13 (2025.1); default when nova is not installed."""
    path = '/usr/lib/python3/dist-packages/nova/api/openstack/api_version_request.py'
    try:
        m = re.search(r"^_MAX_API_VERSION = '(\d+\.\d+)'", open(path).read(), re.M)
    except OSError:
        return default
    return m.group(1) if m else default


# What the agent replies for the real nova-api, healthy, at the installed release's maximum.
REAL_HEALTHY_REPLY = 'up ready 100% #nova-api ' + installed_nova_max()


class NovaProc:
    def __init__(self, workdir, mode='healthy', name='fake-nova', addr='127.0.0.1', **params):
        self.addr = addr
        self.log_path = os.path.join(workdir, name + '.log')
        argv = [PYTHON, os.path.join(HERE, 'fake_nova.py'), '--listen', '%s:0' % addr,
                '--control', '%s:0' % addr, '--mode', mode]
        self.proc = Proc(argv, self.log_path)

        def ready():
            if not self.proc.alive():
                raise RuntimeError('fake_nova exited: %s' % self.proc.log_tail())
            m = re.search(r'^ready listen=[\d.]+:(\d+) control=[\d.]+:(\d+)$',
                          self.proc.log_text(), re.M)
            return m and (int(m.group(1)), int(m.group(2)))
        self.port, self.control_port = wait_until(ready, timeout=20, interval=0.02,
                                                  message='fake_nova ready line')
        if params:
            self.set_mode(mode, **params)

    @property
    def url(self):
        return 'http://%s:%d/v2.1/' % (self.addr, self.port)

    @property
    def hc_url(self):
        return 'http://%s:%d/healthcheck' % (self.addr, self.port)

    def command(self, line):
        return fake_nova.control(self.addr, self.control_port, line, timeout=10)

    def set_mode(self, mode, **params):
        line = ' '.join(['mode', mode] + ['%s=%s' % kv for kv in sorted(params.items())])
        r = self.command(line)
        if r == '' and mode == 'refused':
            # fake_nova aborts every open connection on "mode refused", its own
            # control connection included, before it could answer "ok": ask again.
            # (the switch itself goes on in fake_nova's control thread: wait for it)
            try:
                def switched():
                    st = self.status()
                    return st.get('mode') == 'refused' and st.get('listening') == '0'
                wait_until(switched, timeout=5, interval=0.01, message='fake_nova in mode refused')
                r = 'ok'
            except WaitTimeout:
                r = repr(self.status())
        if r != 'ok':
            raise AssertionError('fake_nova %r: %s' % (line, r))

    def status(self):
        r = self.command('status')
        return dict(kv.split('=', 1) for kv in r.split()[1:])

    def requests(self):
        return int(self.command('requests').split()[1])

    def stop(self):
        self.proc.stop(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def probe_settings(url, **kw):
    p = {'enabled': True, 'url': url, 'interval_ms': 400, 'timeout_ms': 300,
         'connect_timeout_ms': 300, 'rise': 2, 'fall': 3}
    p.update(kw)
    return {'probe': p}



def watch(agent, until, timeout, interval=0.01, what=None):
    snaps = []
    t0 = time.monotonic()

    def poll():
        s = agent.status()
        snaps.append(s)
        return until(s)
    try:
        wait_until(poll, timeout=timeout, interval=interval,
                   message=lambda: '%s (last reply %r, probe %r)' % (
                       what or 'status condition',
                       snaps[-1]['reply'] if snaps else None,
                       short(snaps[-1]) if snaps else None))
    except WaitTimeout:
        raise
    return snaps, time.monotonic() - t0


def short(s):
    """The probe counters of a snapshot, for messages."""
    p = s.get('probe') or {}
    return {k: p.get(k) for k in ('probes', 'failures', 'ok_streak', 'fail_streak', 'last_ok',
                                  'last_reason', 'last_http')}


def weight_of(reply):
    m = re.search(r'(?:^| )(\d+)%', reply.split('#', 1)[0])
    return int(m.group(1)) if m else None


def op_token(reply):
    words = reply.split('#', 1)[0].split()
    for w in words:
        if w in ('up', 'down'):
            return w
    return None


def stop_clean(agent):
    """Stop the agent (SIGTERM); it must exit 0 with no sanitizer report in its log."""
    rc = agent.stop()
    text = agent.log_text()
    bad = [ln for ln in text.splitlines()
           if 'Sanitizer' in ln or 'runtime error:' in ln or 'LeakSanitizer' in ln]
    if rc != 0 or bad:
        raise AssertionError('agent %s: exit %r on SIGTERM; sanitizer lines: %s'
                             % (agent.name, rc, bad[:10]))
    print('ok: agent %s exited 0 on SIGTERM, no sanitizer report' % agent.name, flush=True)


def real_nova_or_skip():
    """tests/nova/install-deps; exit 77 (skipped) if python3-nova cannot be had."""
    t0 = time.monotonic()
    try:
        r = subprocess.run([INSTALL_DEPS], capture_output=True, text=True, timeout=900)
        out = (r.stdout + r.stderr)[-2000:]
        rc = r.returncode
    except (OSError, subprocess.TimeoutExpired) as e:
        out, rc = str(e), -1
    print('install-deps: exit %s in %.1fs' % (rc, time.monotonic() - t0), flush=True)
    if rc == 0:
        return
    # Not root, no network...: fine if everything is there already.
    have = subprocess.run(['/usr/bin/python3', '-c', 'import nova.api.openstack.compute.wsgi'],
                          capture_output=True).returncode == 0 \
        and any(os.access(b, os.X_OK) for b in ('/usr/bin/uwsgi', '/usr/bin/uwsgi-core'))
    if have:
        print('install-deps failed but python3-nova and uwsgi are installed; going on:\n%s'
              % out, flush=True)
        return
    print('SKIP: python3-nova cannot be installed (tests/nova/install-deps exit %s):\n%s'
          % (rc, out), flush=True)
    sys.exit(77)


def nova_node(*args, env=None, timeout=120):
    """tests/nova/nova-node ARGS (setup DIR, start DIR ADDR PORT [VERSION], stop DIR);
    returns the seconds it took, raises AssertionError with its output if it fails."""
    e = dict(os.environ)
    e.update(env or {})
    t0 = time.monotonic()
    r = subprocess.run([NOVA_NODE] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout, env=e)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        raise AssertionError('nova-node %s: exit %d\n%s\n%s' % (' '.join(map(str, args)),
                                                                r.returncode, r.stdout[-3000:],
                                                                r.stderr[-3000:]))
    return dt
