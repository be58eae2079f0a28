#!/usr/bin/python3
"""Real OpenStack APIs on loopback for the tests: nova-api, placement-api, glance-api.

Debian 12's own packages under uwsgi (tests/nova/install-deps installs them), sqlite, no
keystone, no message queue.  Recipes: tests/nova/README.md and
/work/shared/reference/real-{nova,placement}-api.md.

Quick use::

    from apilib import NovaApi, PlacementApi, GlanceApi, start_all, stop_all
    apis = [NovaApi(wd, '127.0.0.91'), PlacementApi(wd, '127.0.0.92'), GlanceApi(wd, '127.0.0.93')]
    start_all(apis)                       # set up and start all three at once, wait for each
    apis[1].get('/resource_providers', version='1.39')   # -> (200, headers, body)
    apis[2].disable_healthcheck()         # GET /healthcheck -> 503 DISABLED BY FILE
    stop_all(apis)

Classes (one process tree each: uwsgi's master + 2 workers under testutil.Proc, so a test
runner that dies takes them along):

  NovaApi(workdir, addr, port=8774, max_version=None)
      tests/nova/nova-node setup (nova.conf, stock api-paste.ini, template sqlite DBs) and
      nova's wsgi_entry.py; ready when GET /v2.1/ is 200.  MAX_VERSION (e.g. '2.90') lowers
      the advertised maximum.  Requests carry 'X-Auth-Token: admin:admin' (noauth2) and, with
      version=, 'OpenStack-API-Version: compute V'.
  PlacementApi(workdir, addr, port=8778, max_version=None)
      python3-placement, [api] auth_strategy = noauth2, sqlite; ready when GET / is 200
      ({"versions": [{"max_version": "1.39", ...}]}).  MAX_VERSION truncates
      placement.microversion.VERSIONS (it then answers 406 above it).  version= sends
      'OpenStack-API-Version: placement V'.  No /healthcheck in its pipeline.
  GlanceApi(workdir, addr, port=9292)
      python3-glance with glance-common's stock glance-api-paste.ini (flavor: no auth): the
      pipeline has oslo.middleware's healthcheck filter, its disable_by_file_path pointed at
      DIR/healthcheck_disable.  No microversions (GET / lists v2.x versions).  Ready when
      GET /healthcheck is 200.

Common attributes and methods:
  .name, .addr, .port, .dir (WORKDIR/NAME), .log_path, .base ('http://ADDR:PORT'),
  .start_seconds (launch to first ready answer, set by wait_ready)
  url(path) -> str
  setup()                        config files and the sqlite DB (a template DB per package
                                 version is built once under /var/cache/zdu-tests/template-db,
                                 flock'ed, and copied).  start() calls it if needed.
  launch()                       starts uwsgi (refuses an ADDR:PORT that already answers).
                                 Call it from the main thread (PR_SET_PDEATHSIG is per thread).
  wait_ready(timeout=60)         polls the ready path until 200; raises RuntimeError with the log
                                 tail if uwsgi exits or the deadline passes.
  start(timeout=60)              setup() + launch() + wait_ready().
  stop()                         SIGTERM (uwsgi --die-on-term), SIGKILL after 10 s.
  alive() -> bool
  pids() -> [int]                uwsgi's master and workers.
  cpu_seconds() -> float         their CPU time so far (a start's cost, whatever the load).
  get(path, version=None, headers=None, timeout=5) -> (status, {header: value}, body bytes)
  disable_healthcheck() / enable_healthcheck()   the oslo disable file (GlanceApi; NovaApi
                                 has one too, see tests/nova/README.md for its path caveat).

Module functions:
  start_all(apis, timeout=90)    setup() of each in parallel threads, launch() of each from
                                 the calling thread, then wait_ready() in parallel; prints each
                                 one's start time.  Raises the first error (all are stopped).
  stop_all(apis)
  have_packages() -> (bool, why) python3-placement, python3-glance, python3-nova and uwsgi here.
  ensure_packages_or_skip()      runs tests/nova/install-deps when something is missing; exits
                                 77 (CTest: skipped) only when the packages cannot be had.
"""

import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from testutil import Proc, WaitTimeout, check_loopback, parallel, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = '/usr/bin/python3'     # Debian's interpreter: another python3 on PATH may not see nova
SRC = os.environ.get('ZDU_SOURCE_DIR') or os.path.join(HERE, '..', '..')
NOVA_DIR = os.path.join(SRC, 'tests', 'nova')
INSTALL_DEPS = os.path.join(NOVA_DIR, 'install-deps')
CACHE = os.environ.get('ZDU_NOVA_CACHE', '/var/cache/zdu-tests')

__all__ = ['NovaApi', 'PlacementApi', 'GlanceApi', 'start_all', 'stop_all', 'have_packages',
           'ensure_packages_or_skip', 'http_get']

# no proxy: http_proxy in the environment must not catch loopback requests
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url, headers=None, timeout=5.0):
    """GET URL without any proxy -> (status, {header: value}, body). HTTP errors are answers."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with _opener.open(req, timeout=timeout) as r:
            return r.status, dict(r.headers.items()), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers.items()), e.read()


def _uwsgi_bin():
    for b in ('/usr/bin/uwsgi', '/usr/bin/uwsgi-core'):
        if os.access(b, os.X_OK):
            return b
    raise RuntimeError('uwsgi not installed (run tests/nova/install-deps)')


def _pkg_version(pkg):
    r = subprocess.run(['dpkg-query', '-W', '-f=${Version}', pkg], capture_output=True, text=True)
    if r.returncode != 0 or not r.stdout:
        raise RuntimeError('%s is not installed (run tests/nova/install-deps)' % pkg)
    return r.stdout


def _run_logged(argv, log, env=None, timeout=300):
    with open(log, 'ab') as f:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                           env=env, timeout=timeout)
    if r.returncode != 0:
        with open(log, 'rb') as f:
            tail = f.read().decode('utf-8', 'replace').splitlines()[-30:]
        raise RuntimeError('%s: exit %d; tail of %s:\n%s' % (' '.join(argv[:3]), r.returncode, log,
                                                             '\n'.join(tail)))


def _clean_env(extra=None):
    env = {k: v for k, v in os.environ.items()
           if k not in ('PYTHONPATH', 'PYTHONHOME') and not k.startswith('ZDU_NOVA_MAX')}
    env.update(extra or {})
    return env


class UwsgiApi:
    """One OpenStack API under uwsgi; see the module docstring. Subclasses set the class
    attributes and write_conf()/db_sync()."""
    kind = None            # 'nova', 'placement', 'glance'
    package = None         # the Debian package whose version keys the template DB
    default_port = None
    ready_path = '/'
    db_files = ()          # sqlite files made by db_sync, copied from the template
    config_env = None      # environment variable naming the config directory
    version_service = None  # 'compute', 'placement': the OpenStack-API-Version service type
    auth_token = None

    def __init__(self, workdir, addr, port=None, name=None):
        check_loopback(addr)
        self.name = name or self.kind
        self.addr = addr
        self.port = int(port or self.default_port)
        self.dir = os.path.join(os.path.abspath(str(workdir)), self.name)
        self.log_path = os.path.join(self.dir, 'uwsgi.log')
        self.base = 'http://%s:%d' % (addr, self.port)
        self.proc = None
        self.start_seconds = None
        self._t_launch = None
        self._set_up = False

    def __repr__(self):
        return '<%s %s %s>' % (type(self).__name__, self.name, self.base)

    def url(self, path='/'):
        return self.base + path

    # ------------------------------------------------------------ files
    def write_conf(self, d):
        raise NotImplementedError

    def db_sync(self, d):
        raise NotImplementedError

    def wsgi_entry(self):
        raise NotImplementedError

    def uwsgi_env(self):
        return {self.config_env: self.dir}

    def _template(self):
        """The directory holding this package version's synced DB files, built once under a
        lock; None if the cache is not writable (then each setup syncs its own)."""
        key = '%s-%s' % (self.kind, ''.join(c if c.isalnum() or c in '.+-' else '_'
                                            for c in _pkg_version(self.package)))
        root = os.path.join(CACHE, 'template-db')
        tdir = os.path.join(root, key)
        if os.path.exists(os.path.join(tdir, '.done')):
            return tdir
        try:
            os.makedirs(root, exist_ok=True)
            lockf = open(os.path.join(root, '.lock-' + self.kind), 'w')
        except OSError:
            return None
        with lockf:
            fcntl.flock(lockf, fcntl.LOCK_EX)
            if not os.path.exists(os.path.join(tdir, '.done')):
                build = tdir + '.build'
                shutil.rmtree(build, ignore_errors=True)
                os.makedirs(build)
                self.write_conf(build)
                self.db_sync(build)
                os.makedirs(tdir, exist_ok=True)
                for f in self.db_files:
                    shutil.copy2(os.path.join(build, f), os.path.join(tdir, f))
                open(os.path.join(tdir, '.done'), 'w').close()
                shutil.rmtree(build, ignore_errors=True)
        return tdir

    def setup(self):
        if self.alive():
            raise RuntimeError('%s is running; stop it before setup' % self.name)
        os.makedirs(self.dir, exist_ok=True)
        self.write_conf(self.dir)
        for f in self.db_files + ('healthcheck_disable',):
            try:
                os.unlink(os.path.join(self.dir, f))
            except FileNotFoundError:
                pass
        tdir = self._template()
        if tdir:
            for f in self.db_files:
                shutil.copy2(os.path.join(tdir, f), os.path.join(self.dir, f))
        else:
            self.db_sync(self.dir)
        self._set_up = True

    # ------------------------------------------------------------ process
    def _answers(self):
        try:
            with socket.create_connection((self.addr, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def launch(self):
        if self.alive():
            raise RuntimeError('%s already running' % self.name)
        if not self._set_up:
            self.setup()
        # Something already listening there would answer the readiness probe in our place.
        if self._answers():
            raise RuntimeError('%s: %s:%d is already in use' % (self.name, self.addr, self.port))
        argv = [_uwsgi_bin(), '--plugin', 'python3',
                '--http-socket', '%s:%d' % (self.addr, self.port), '--wsgi-file', self.wsgi_entry(), '--need-app', '--master', '--processes', '2',
                '--threads', '1', '--die-on-term', '--pidfile', os.path.join(self.dir, 'uwsgi.pid')]
        self._t_launch = time.monotonic()
        self.proc = Proc(argv, self.log_path, env=_clean_env(self.uwsgi_env()), cwd=self.dir)
        return self

    def wait_ready(self, timeout=60.0):
        def ready():
            if not self.proc.alive():
                return 'exited'
            # uwsgi binds before loading the app: early connections wait in the backlog
            status, _, _ = http_get(self.url(self.ready_path), timeout=2.0)
            return 'ready' if status == 200 else None
        try:
            res = wait_until(ready, timeout=timeout, interval=0.05,
                             message='%s: 200 on %s' % (self.name, self.url(self.ready_path)))
        except WaitTimeout as e:
            tail = self.proc.log_tail(40)
            self.stop()
            raise RuntimeError('%s\n--- tail of %s:\n%s' % (e, self.log_path, tail)) from None
        if res == 'exited':
            raise RuntimeError('%s: uwsgi exited with %s during startup; tail of %s:\n%s' % (
                self.name, self.proc.wait(), self.log_path, self.proc.log_tail(40)))
        self.start_seconds = time.monotonic() - self._t_launch
        return self

    def start(self, timeout=60.0):
        self.launch()
        return self.wait_ready(timeout)

    def alive(self):
        return self.proc is not None and self.proc.alive()

    def stop(self):
        if self.proc is not None:
            self.proc.stop(timeout=10.0)

    def pids(self):
        """uwsgi's master and its workers (children of the master), while running."""
        if not self.alive():
            return []
        out = [self.proc.pid]
        for d in os.listdir('/proc'):
            if d.isdigit():
                try:
                    with open('/proc/%s/stat' % d) as f:
                        if int(f.read().rsplit(')', 1)[1].split()[1]) == self.proc.pid:
                            out.append(int(d))
                except (OSError, ValueError, IndexError):
                    pass
        return out

    def cpu_seconds(self):
        """CPU time (user + system) used so far by the master and its workers: what a start
        costs, independent of how loaded the machine is."""
        hz = os.sysconf('SC_CLK_TCK')
        total = 0
        for pid in self.pids():
            try:
                with open('/proc/%d/stat' % pid) as f:
                    fields = f.read().rsplit(')', 1)[1].split()
                total += int(fields[11]) + int(fields[12])   # utime, stime (fields 14, 15)
            except (OSError, ValueError, IndexError):
                pass
        return total / hz

    # ------------------------------------------------------------ requests
    def get(self, path='/', version=None, headers=None, timeout=5.0):
        h = {}
        if self.auth_token:
            h['X-Auth-Token'] = self.auth_token
        if version is not None:
            h['OpenStack-API-Version'] = '%s %s' % (self.version_service, version)
        h.update(headers or {})
        return http_get(self.url(path), headers=h, timeout=timeout)

    def get_json(self, path='/', **kw):
        status, _, body = self.get(path, **kw)
        return status, json.loads(body.decode() or 'null')

    @property
    def disable_path(self):
        return os.path.join(self.dir, 'healthcheck_disable')

    def disable_healthcheck(self):
        with open(self.disable_path, 'w') as f:
            f.write('disabled by a test\n')

    def enable_healthcheck(self):
        try:
            os.unlink(self.disable_path)
        except FileNotFoundError:
            pass


class NovaApi(UwsgiApi):
    kind = 'nova'
    package = 'python3-nova'
    default_port = 8774
    ready_path = '/v2.1/'
    config_env = 'OS_NOVA_CONFIG_DIR'
    version_service = 'compute'
    auth_token = 'admin:admin'

    def __init__(self, workdir, addr, port=None, name=None, max_version=None):
        super().__init__(workdir, addr, port, name)
        self.max_version = max_version

    def setup(self):
        # tests/nova/nova-node's own setup: its config, the stock paste file with
        # disable_by_file_path = DIR/healthcheck_disable, and its template DBs.
        if self.alive():
            raise RuntimeError('%s is running; stop it before setup' % self.name)
        _run_logged([os.path.join(NOVA_DIR, 'nova-node'), 'setup', self.dir],
                    os.path.join(os.path.dirname(self.dir), self.name + '-setup.log'),
                    env=_clean_env())
        self._set_up = True

    def wsgi_entry(self):
        return os.path.join(NOVA_DIR, 'wsgi_entry.py')

    def uwsgi_env(self):
        env = {self.config_env: self.dir}
        if self.max_version:
            env['ZDU_NOVA_MAX_VERSION'] = self.max_version
        return env


_PLACEMENT_ENTRY = '''"""uwsgi entry for a test placement-api (written by tests/lib/apilib.py)."""
import os
_max = os.environ.get('ZDU_PLACEMENT_MAX_VERSION', '').strip()
if _max:
    from placement import microversion as _mv
    if _max not in _mv.VERSIONS:
        raise ValueError('ZDU_PLACEMENT_MAX_VERSION %r is not one of %s..%s'
                         % (_max, _mv.VERSIONS[0], _mv.VERSIONS[-1]))
    _mv.VERSIONS[:] = _mv.VERSIONS[:_mv.VERSIONS.index(_max) + 1]
from placement import wsgi as _wsgi
application = _wsgi.init_application()
'''

_GLANCE_ENTRY = '''"""uwsgi entry for a test glance-api (written by tests/lib/apilib.py)."""
from glance.common import wsgi_app as _wsgi_app
application = _wsgi_app.init_app()
'''


class PlacementApi(UwsgiApi):
    kind = 'placement'
    package = 'python3-placement'
    default_port = 8778
    ready_path = '/'
    db_files = ('placement.db',)
    config_env = 'OS_PLACEMENT_CONFIG_DIR'
    version_service = 'placement'
    auth_token = 'admin'

    def __init__(self, workdir, addr, port=None, name=None, max_version=None):
        super().__init__(workdir, addr, port, name)
        self.max_version = max_version

    def write_conf(self, d):
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, 'placement.conf'), 'w') as f:
            f.write('# written by tests/lib/apilib.py: a test node, no keystone\n'
                    '[DEFAULT]\ndebug = false\n\n'
                    '[api]\nauth_strategy = noauth2\n\n'
                    '[placement_database]\nconnection = sqlite:///%s/placement.db\n' % d)
        with open(os.path.join(d, 'wsgi_entry.py'), 'w') as f:
            f.write(_PLACEMENT_ENTRY)

    def db_sync(self, d):
        _run_logged([PYTHON, '-c', 'import sys\nfrom placement.cmd.manage import main\n'
                     'sys.argv = ["placement-manage"] + sys.argv[1:]\nsys.exit(main())',
                     '--config-file', os.path.join(d, 'placement.conf'), 'db', 'sync'],
                    os.path.join(d, 'db-sync.log'), env=_clean_env())

    def wsgi_entry(self):
        return os.path.join(self.dir, 'wsgi_entry.py')

    def uwsgi_env(self):
        env = {self.config_env: self.dir}
        if self.max_version:
            env['ZDU_PLACEMENT_MAX_VERSION'] = self.max_version
        return env


def _glance_paste_source():
    for p in (os.path.join(CACHE, 'glance-common/usr/share/glance-common/glance-api-paste.ini'),
              '/usr/share/glance-common/glance-api-paste.ini', '/etc/glance/glance-api-paste.ini'):
        if os.path.isfile(p):
            return p
    raise RuntimeError('no glance-api-paste.ini (run tests/nova/install-deps)')


class GlanceApi(UwsgiApi):
    kind = 'glance'
    package = 'python3-glance'
    default_port = 9292
    ready_path = '/healthcheck'
    db_files = ('glance.db',)
    config_env = 'OS_GLANCE_CONFIG_DIR'

    def write_conf(self, d):
        os.makedirs(os.path.join(d, 'images'), exist_ok=True)
        os.makedirs(os.path.join(d, 'staging'), exist_ok=True)
        os.makedirs(os.path.join(d, 'lock'), exist_ok=True)
        with open(os.path.join(d, 'glance-api.conf'), 'w') as f:
            f.write('# written by tests/lib/apilib.py: a test node, no keystone\n'
                    '[DEFAULT]\ndebug = false\n\n'
                    '[database]\nconnection = sqlite:///%(d)s/glance.db\n\n'
                    # no flavor: the "glance-api" pipeline, unauthenticated context
                    '[paste_deploy]\nflavor =\n\n'
                    '[glance_store]\nstores = file\ndefault_store = file\n'
                    'filesystem_store_datadir = %(d)s/images\n\n'
                    '[os_glance_staging_store]\nfilesystem_store_datadir = %(d)s/staging\n\n'
                    '[oslo_concurrency]\nlock_path = %(d)s/lock\n' % {'d': d})
        # The stock pipeline: cors healthcheck http_proxy_to_wsgi versionnegotiation ...
        with open(_glance_paste_source()) as f:
            text = f.read()
        lines, n = [], 0
        for ln in text.splitlines():
            if ln.replace(' ', '').startswith('disable_by_file_path='):
                ln = 'disable_by_file_path = %s/healthcheck_disable' % d
                n += 1
            lines.append(ln)
        if n != 1:
            raise RuntimeError('%s: expected one disable_by_file_path line, found %d'
                               % (_glance_paste_source(), n))
        with open(os.path.join(d, 'glance-api-paste.ini'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
        with open(os.path.join(d, 'wsgi_entry.py'), 'w') as f:
            f.write(_GLANCE_ENTRY)

    def db_sync(self, d):
        _run_logged([PYTHON, '-c', 'import sys\nfrom glance.cmd.manage import main\n'
                     'sys.argv = ["glance-manage"] + sys.argv[1:]\nsys.exit(main())',
                     '--config-file', os.path.join(d, 'glance-api.conf'), 'db_sync'],
                    os.path.join(d, 'db-sync.log'), env=_clean_env())

    def wsgi_entry(self):
        return os.path.join(self.dir, 'wsgi_entry.py')


# ---------------------------------------------------------------- several at once
def start_all(apis, timeout=90.0):
    """setup() in parallel, launch() from this thread (PR_SET_PDEATHSIG belongs to the thread
    that starts a child), wait_ready() in parallel. Stops them all if one fails."""
    t0 = time.monotonic()
    try:
        parallel(lambda a: a.setup() if not a._set_up else None, apis)
        t1 = time.monotonic()
        for a in apis:
            a.launch()
        parallel(lambda a: a.wait_ready(timeout), apis)
    except BaseException:
        stop_all(apis)
        raise
    print('timing: setup of %d APIs %.2f s; then %s; all ready %.2f s after the first setup' % (
        len(apis), t1 - t0, ', '.join('%s %.2f s (%.1f s CPU)' % (a.name, a.start_seconds,
                                                                 a.cpu_seconds()) for a in apis),
        time.monotonic() - t0), flush=True)
    return apis


def stop_all(apis):
    for a in apis:
        try:
            a.stop()
        except Exception as e:  # noqa: B902 - stop the others anyway
            print('warning: stopping %s: %s' % (a.name, e), flush=True)


def have_packages():
    try:
        for p in ('python3-nova', 'python3-placement', 'python3-glance', 'uwsgi-plugin-python3'):
            _pkg_version(p)
        _uwsgi_bin()
        _glance_paste_source()
    except RuntimeError as e:
        return False, str(e)
    return True, ''


def ensure_packages_or_skip():
    """tests/nova/install-deps (idempotent); exit 77 (skipped) only if the packages cannot be
    had. Everything already here: nothing run (install-deps' own checks take 20 s)."""
    ok, why = have_packages()
    if ok:
        return
    t0 = time.monotonic()
    try:
        r = subprocess.run([INSTALL_DEPS], capture_output=True, text=True, timeout=900)
        rc, out = r.returncode, (r.stdout + r.stderr)[-2000:]
    except (OSError, subprocess.TimeoutExpired) as e:
        rc, out = -1, str(e)
    print('install-deps: exit %s in %.1fs' % (rc, time.monotonic() - t0), flush=True)
    if rc == 0:
        return
    ok, why = have_packages()
    if ok:
        print('install-deps failed but the packages are here; going on:\n%s' % out, flush=True)
        return
    print('SKIP: the real APIs cannot be installed (%s; install-deps exit %s):\n%s'
          % (why, rc, out), flush=True)
    sys.exit(77)
