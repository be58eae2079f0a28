#!/usr/bin/python3
"""etcd over http:// with a user and password sends both in clear (and the tokens etcd issues
for them): `zdu-agent --check-config` and the daemon's log warn, unless every endpoint is
https:// or etcd.allow_plaintext_password = true says it is on purpose (issue 14, item 6).

No etcd is needed: a warning is about the configuration, and an agent whose etcd does not
answer still starts. The endpoints are free ports on 127.0.0.1 where nothing listens.

--check-config (exit 0 and "configuration ok" in every valid case):
  * http:// endpoint, user + password -> a warning on stderr naming the file, the user, the
    endpoint and both ways out (https://, etcd.allow_plaintext_password);
  * the same with password_file -> the warning;
  * one https:// and two http:// endpoints -> names the first http:// one, "and 1 more";
  * https:// only, or allow_plaintext_password = true, or no user -> no warning;
  * allow_plaintext_password = 1 -> exit 1, "FILE:LINE: etcd.allow_plaintext_password:
    expected true or false".
The daemon (--foreground, its stderr is its log):
  * started with http:// + password -> the warning is logged before "started";
  * started with allow_plaintext_password = true -> no warning;
  * SIGHUP after removing allow_plaintext_password -> the warning is logged with the reload;
    SIGHUP with it back -> no new warning.
"""

import os

from agentlib import Agent, check, main
from testutil import free_port, tempdir

WARNING = 'its password and tokens go unencrypted to'
ADVICE = 'use https:// endpoints, or set etcd.allow_plaintext_password = true'
USER = 'zdu-agent-pt1'


def etcd_group(endpoints, **extra):
    g = {'endpoints': endpoints, 'node': 'pt1', 'user': USER, 'password': 'pw-plain-1',
         'timeout_ms': 500, 'backoff_max_ms': 500}
    g.update(extra)
    for k in [k for k, v in g.items() if v is None]:
        del g[k]
    return {'etcd': g}


def check_config(work, name, settings, extra_text=''):
    a = Agent(workdir=os.path.join(work, name), name=name, settings=settings,
              extra_text=extra_text, start=False)
    r = a.cli('--check-config')
    print('--- %s: --check-config -> exit %d\n  stdout: %s\n  stderr: %s'
          % (name, r.returncode, r.stdout.strip(), r.stderr.strip()), flush=True)
    return a, r


def run():
    work = tempdir('zdu-it-etcd-plaintext-')
    http1 = 'http://127.0.0.1:%d' % free_port()
    http2 = 'http://127.0.0.1:%d' % free_port()
    https1 = 'https://127.0.0.1:%d' % free_port()

    # ------------------------------------------------ --check-config
    a, r = check_config(work, 'http-password', etcd_group([http1]))
    check(r.returncode == 0 and 'configuration ok' in r.stdout,
          'http:// + password: still a valid configuration (exit 0)', (r.returncode, r.stdout))
    want = 'zdu-agent: warning: %s: etcd.user "%s": %s %s: %s' % (a.cfg_path, USER, WARNING,
                                                                  http1, ADVICE)
    check(want in r.stderr, 'http:// + password: --check-config warns, naming the file, the '
          'user, the endpoint and what to do', r.stderr)

    pw_file = os.path.join(work, 'etcd-password')
    with open(pw_file, 'w') as f:
        f.write('pw-plain-2\n')
    os.chmod(pw_file, 0o600)
    _, r = check_config(work, 'http-password-file',
                        etcd_group([http1], password=None, password_file=pw_file))
    check(r.returncode == 0 and WARNING + ' ' + http1 in r.stderr,
          'http:// + password_file: the warning too', (r.returncode, r.stderr))

    _, r = check_config(work, 'mixed', etcd_group([https1, http1, http2]))
    check(r.returncode == 0 and '%s %s and 1 more http:// endpoint:' % (WARNING, http1)
          in r.stderr, 'https:// + 2 × http://: names the first http:// one and 1 more',
          (r.returncode, r.stderr))

    for name, settings in (
            ('https-only', etcd_group([https1])),
            ('allowed', etcd_group([http1, http2], allow_plaintext_password=True)),
            ('no-user', etcd_group([http1], user=None, password=None))):
        _, r = check_config(work, name, settings)
        check(r.returncode == 0 and 'configuration ok' in r.stdout and r.stderr == '',
              '%s: exit 0, no warning' % name, (r.returncode, r.stdout, r.stderr))

    # A bad value: the key given as an integer (written by hand: agentlib writes booleans).
    a, _ = check_config(work, 'not-a-bool', etcd_group([http1], allow_plaintext_password=True))
    text = a.config_text().replace('allow_plaintext_password = true;',
                                   'allow_plaintext_password = 1;')
    check('allow_plaintext_password = 1;' in text, 'the bad value is in the file', text)
    a.write_config(text)
    r = a.cli('--check-config')
    print('--- not-a-bool: exit %d: %s' % (r.returncode, r.stderr.strip()))
    check(r.returncode == 1 and 'etcd.allow_plaintext_password: expected true or false'
          in r.stderr and a.cfg_path + ':' in r.stderr,
          'allow_plaintext_password = 1: exit 1 naming file:line and the key',
          (r.returncode, r.stderr))

    # ------------------------------------------------ the daemon's log
    with Agent(workdir=os.path.join(work, 'daemon-warns'), name='daemon-warns',
               settings=etcd_group([http1])) as d:
        d.wait_log('started', timeout=5)
        text = d.log_text()
        line = next((l for l in text.splitlines() if WARNING in l), None)
        check(line is not None and 'warning' in line and http1 in line and ADVICE in line,
              'the daemon logs the warning at start', text)
        check(text.index(WARNING) < text.index('started'), 'before its "started" line')

    with Agent(workdir=os.path.join(work, 'daemon-quiet'), name='daemon-quiet',
               settings=etcd_group([http1], allow_plaintext_password=True)) as d:
        d.wait_log('started', timeout=5)
        check(WARNING not in d.log_text(), 'allow_plaintext_password = true: no warning at '
              'start', d.log_text())

        d.settings = etcd_group([http1])
        d.write_config()
        start = d.log_size()
        d.hup()
        d.wait_log('configuration reloaded', timeout=5, start=start)
        text = d.log_text()[start:]
        check(WARNING in text, 'a reload without allow_plaintext_password logs the warning',
              text)

        d.settings = etcd_group([http1], allow_plaintext_password=True)
        d.write_config()
        start = d.log_size()
        d.hup()
        d.wait_log('configuration reloaded', timeout=5, start=start)
        text = d.log_text()[start:]
        check(WARNING not in text, 'a reload with it back logs no warning', text)


if __name__ == '__main__':
    main(run)
