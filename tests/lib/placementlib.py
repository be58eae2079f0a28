#!/usr/bin/python3
"""A real placement-api on loopback for tests (stdlib only).

Recipe: /work/shared/reference/real-placement-api.md. Debian 12's python3-placement 8.0.0
(Zed, max microversion 1.39) under uwsgi, noauth2, sqlite; tests/placement/wsgi_entry.py
(optionally behind oslo.middleware's healthcheck with disable_by_file).

    p = Placement(workdir, addr, port=8778, hc_disable_file=None, detailed=False)
        .start(timeout=60)   db sync (the schema is built once into a template and copied),
                             uwsgi, waits for GET / = 200; raises with the log tail otherwise.
        .url                 http://ADDR:PORT/
        .stop()              SIGTERM to uwsgi's master (--die-on-term), SIGKILL after 10 s.
    placement_or_skip()      exits 77 (CTest: skipped) when python3-placement or uwsgi's
                             python3 plugin is missing (tests/nova/install-deps installs them).
"""

import fcntl
import glob
import os
import shutil
import subprocess
import sys
import time
import urllib.request

from testutil import Proc, check_loopback, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get('ZDU_SOURCE_DIR') or os.path.join(HERE, '..', '..')
ENTRY = os.path.join(SRC, 'tests', 'placement', 'wsgi_entry.py')
PYTHON = '/usr/bin/python3'
CACHE = os.environ.get('ZDU_PLACEMENT_CACHE', '/var/cache/zdu-tests')


def uwsgi_bin():
    for b in ('/usr/bin/uwsgi', '/usr/bin/uwsgi-core'):
        if os.access(b, os.X_OK):
            return b
    return None


def placement_or_skip():
    ok = (subprocess.run([PYTHON, '-c', 'import placement.wsgi, oslo_middleware.healthcheck'],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
          and uwsgi_bin() and glob.glob('/usr/lib/uwsgi/plugins/python3*_plugin.so'))
    if not ok:
        print('SKIP: python3-placement or uwsgi with python3 (tests/nova/install-deps)')
        sys.exit(77)


def _version():
    r = subprocess.run(['dpkg-query', '-W', '-f=${Version}', 'python3-placement'],
                       capture_output=True, text=True)
    return r.stdout.strip() or 'unknown'


def _write_conf(d, db):
    with open(os.path.join(d, 'placement.conf'), 'w') as f:
        f.write('# written by tests/lib/placementlib.py: a test node, no keystone\n'
                '[api]\nauth_strategy = noauth2\n'
                '[placement_database]\nconnection = sqlite:///%s\n' % db)


def _template_db():
    """The schema once per placement version (db sync takes seconds), under a lock."""
    tdir = os.path.join(CACHE, 'placement-template-db', _version())
    db = os.path.join(tdir, 'placement.db')
    os.makedirs(tdir, exist_ok=True)
    with open(os.path.join(tdir, '.lock'), 'w') as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        if not os.path.exists(db):
            tmp = os.path.join(tdir, 'build')
            shutil.rmtree(tmp, ignore_errors=True)
            os.makedirs(tmp)
            _write_conf(tmp, os.path.join(tmp, 'placement.db'))
            code = ("import sys; sys.argv=['placement-manage','--config-file','%s','db','sync'];"
                    "from placement.cmd.manage import main; sys.exit(main())"
                    % os.path.join(tmp, 'placement.conf'))
            subprocess.run([PYTHON, '-c', code], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, env={'PATH': '/usr/bin:/bin', 'LC_ALL': 'C'})
            os.rename(os.path.join(tmp, 'placement.db'), db)
            shutil.rmtree(tmp, ignore_errors=True)
    return db


class Placement:
    def __init__(self, workdir, addr, port=8778, hc_disable_file=None, detailed=False):
        check_loopback(addr)
        self.dir = os.path.join(os.path.abspath(workdir), 'placement-%s-%d' % (addr, port))
        self.addr, self.port = addr, port
        self.url = 'http://%s:%d/' % (addr, port)
        self.hc_url = self.url + 'healthcheck'
        self.hc_disable_file = hc_disable_file
        self.detailed = detailed
        self.proc = None
        self.log_path = os.path.join(self.dir, 'uwsgi.log')

    def start(self, timeout=60.0):
        os.makedirs(self.dir, exist_ok=True)
        db = os.path.join(self.dir, 'placement.db')
        shutil.copyfile(_template_db(), db)
        _write_conf(self.dir, db)
        env = {'PATH': '/usr/bin:/bin', 'LC_ALL': 'C', 'OS_PLACEMENT_CONFIG_DIR': self.dir}
        if self.hc_disable_file:
            env['ZDU_PLACEMENT_HC_DISABLE_FILE'] = self.hc_disable_file
        if self.detailed:
            env['ZDU_PLACEMENT_HC_DETAILED'] = '1'
        plugin = sorted(glob.glob('/usr/lib/uwsgi/plugins/python3*_plugin.so'))[0]
        argv = [uwsgi_bin(), '--plugin', plugin, '--http-socket', '%s:%d' % (self.addr, self.port),
                '--wsgi-file', ENTRY, '--need-app', '--master', '--processes', '1',
                '--threads', '1', '--die-on-term', '--pidfile', os.path.join(self.dir, 'uwsgi.pid')]
        self.proc = Proc(argv, self.log_path, env=env)

        def ready():
            if not self.proc.alive():
                raise RuntimeError('placement uwsgi exited: %s' % self.proc.log_tail())
            try:
                with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                        self.url, timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False
        t0 = time.monotonic()
        wait_until(ready, timeout=timeout, interval=0.1,
                   message=lambda: 'placement on %s ready; log:\n%s' % (self.url, self.proc.log_tail()))
        self.start_seconds = time.monotonic() - t0
        return self

    def stop(self):
        if self.proc:
            self.proc.stop(timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
