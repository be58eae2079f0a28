#!/usr/bin/python3
"""An operator in the control socket's group drives the node's etcd flag without the node's
etcd secret (issue 14, item 3).

One etcd member of our own (etcdlib's EtcdCluster with addrs=['127.0.0.27'], ports 2379/2380)
with authentication on (conf/etcd-rbac.sh --enable-auth n1: etcd's users, as in production).
Agent n1, run as root, has etcd.user zdu-agent-n1 and etcd.password_file, a file of mode 0600
owned by root, and control.group, a group made here (groupadd) with one member, a user made
here (useradd; both removed at the end, names unique to this test). Every command below runs
as that user through `setpriv --reuid=USER --regid=nogroup --init-groups`: the group is only
a supplementary group, and the user cannot read the password file (checked with cat first).
  * `--status` works (exit 0, the etcd source shown);
  * `--check-config` warns (exit 0, stderr names the file and "Permission denied") where root
    gets "configuration ok" without a warning; a password file the user owns but may not read
    (mode 0000), or a missing one, still fails (exit 1) for the user and for root;
  * `--maintenance on --reason R` goes through the daemon (set-etcd-flag, logged with the
    user's uid): exit 0, the node key in etcd holds mode=drain, reason=R and by=USER@HOST, the
    agent replies the drain; `--mode maint` likewise; `--maintenance off` deletes the key (and
    again, with no key left, still exit 0) and the agent is ready;
  * `--maintenance on|off --local` writes the flag file through the daemon (set-flag);
  * `--maintenance on --all --yes` is refused (exit 1) naming the password file and what to do
    instead, and writes nothing;
  * root's `--maintenance on` also goes through the daemon when it runs (by=root@HOST, logged
    for uid 0); with the daemon stopped, the user's `--maintenance on` fails (exit 1, naming the
    agent not running and the password file) while root's writes etcd itself (exit 0, "not
    running"), which the agent applies once started;
  * with the etcd member hung (SIGSTOP) and a reload that remakes the agent's etcd client while
    the user's `--maintenance on` waits for etcd, the user gets an error at once (exit 1);
  * with etcd stopped, the user's `--maintenance on` fails (exit 1) with the daemon's etcd
    error, within the CLI's bound.
"""

import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time

from agentlib import Agent, agent_binary, check, check_within, main, run_cli
from etcdlib import EtcdCluster, agent_etcd_settings, all_key, node_key, wait_etcd_state
from testutil import tempdir

ADDR = '127.0.0.27'
GROUP = 'zdu-it-cligrp'
USER = 'zdu-it-cligrp-op'
NODE = 'n1'
KEY = node_key(NODE)
READY = 'up ready 100%'
SOURCE = os.environ.get('ZDU_SOURCE_DIR') or os.path.join(os.path.dirname(__file__), '..', '..')
SCRIPT = os.path.join(SOURCE, 'conf', 'etcd-rbac.sh')


# ---------------------------------------------------------------- the operator
def remove_account():
    subprocess.run(['userdel', USER], capture_output=True)
    subprocess.run(['groupdel', GROUP], capture_output=True)


def make_account():
    remove_account()   # left by a run that was killed
    subprocess.run(['groupadd', GROUP], check=True, capture_output=True)
    subprocess.run(['useradd', '--no-create-home', '--home-dir', '/nonexistent', '--shell',
                    '/usr/sbin/nologin', '--no-user-group', '--gid', 'nogroup', '--groups', GROUP,
                    USER], check=True, capture_output=True)
    return pwd.getpwnam(USER).pw_uid


def as_op(argv, timeout=60):
    """ARGV run as the operator: real and effective uid USER, primary group nogroup, the
    supplementary groups of the group database (GROUP)."""
    return subprocess.run(['setpriv', '--reuid=' + USER, '--regid=nogroup', '--init-groups', '--']
                          + argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, HOME='/'))


def show(who, args, r, seconds=None):
    print('$ [%s] zdu-agent %s -> exit %d%s\n  stdout: %s\n  stderr: %s' % (
        who, ' '.join(args), r.returncode, '' if seconds is None else ' (%.3f s)' % seconds,
        r.stdout.strip()[:400], r.stderr.strip()[:400]), flush=True)


def lines(value):
    return (value or b'').decode('utf-8', 'replace').splitlines()


def rbac_script(endpoint):
    env = {k: v for k, v in os.environ.items() if not k.startswith('ETCDCTL_')}
    env['ETCDCTL_ENDPOINTS'] = endpoint
    r = subprocess.run([SCRIPT, '--enable-auth', NODE], capture_output=True, text=True, env=env,
                       timeout=120)
    check(r.returncode == 0, 'etcd-rbac.sh --enable-auth %s: exit 0' % NODE, r.stderr[-2000:])
    pw = {}
    for line in r.stdout.splitlines():
        if line.strip() and not line.startswith('#'):
            user, _, password = line.partition(' ')
            pw[user] = password
    return pw


# ---------------------------------------------------------------- the test
def run():
    os.umask(0o022)
    work = tempdir('zdu-it-etcd-cli-group-')
    os.chmod(work, 0o755)
    # The binary where the operator may run it, whatever the build tree's permissions.
    binary = os.path.join(work, 'zdu-agent')
    shutil.copy2(agent_binary(), binary)
    os.chmod(binary, 0o755)
    uid = make_account()
    try:
        with EtcdCluster(work, n=1, addrs=[ADDR]) as ec:
            group_test(work, binary, uid, ec)
    finally:
        remove_account()


def group_test(work, binary, uid, ec):
    host = socket.gethostname()
    pw = rbac_script(ec.endpoints[0])
    ec.authenticate('root', pw['root'])
    secret = os.path.join(work, 'etcd-password')
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, (pw['zdu-agent-n1'] + '\n').encode())
    os.close(fd)

    settings = agent_etcd_settings(ec, node=NODE, user='zdu-agent-n1', password_file=secret)
    settings['control'] = {'group': GROUP, 'mode': '0660'}
    # Loopback: the password over http:// is on purpose here (else --check-config warns).
    settings['etcd']['allow_plaintext_password'] = True
    agent = Agent(workdir=work, name=NODE, settings=settings)

    def op(*args, want_rc=0, config=None, timeout=60):
        argv = [binary, '--config', config or agent.cfg_path] + list(args)
        t0 = time.monotonic()
        r = as_op(argv, timeout)
        r.seconds = time.monotonic() - t0
        show(USER, args, r, r.seconds)
        check(r.returncode == want_rc, '[%s] %s: exit %d' % (USER, ' '.join(args), want_rc),
              (r.returncode, r.stdout, r.stderr))
        return r

    def root(*args, want_rc=0, config=None):
        r = run_cli(['--config', config or agent.cfg_path] + list(args))
        show('root', args, r)
        check(r.returncode == want_rc, '[root] %s: exit %d' % (' '.join(args), want_rc),
              (r.returncode, r.stdout, r.stderr))
        return r

    r = as_op(['cat', secret])
    check(r.returncode != 0 and 'Permission denied' in r.stderr,
          'the operator cannot read the password file (mode 0600, owner root)', r.stderr)

    with agent:
        wait_etcd_state(agent, lambda s: s.get('reachable') is True, 'reachable', timeout=15)
        check(os.stat(agent.sock_path).st_gid == grp.getgrnam(GROUP).gr_gid,
              'the control socket belongs to the operators\' group')

        # ------------------------------------------------ --status, --check-config
        r = op('--status')
        check('reply:' in r.stdout and 'etcd:' in r.stdout and 'reachable' in r.stdout,
              '--status shows the reply and the etcd source', r.stdout)
        r = op('--check-config')
        check('configuration ok' in r.stdout and 'warning' in r.stderr and secret in r.stderr
              and 'Permission denied' in r.stderr,
              '--check-config by the operator: a warning naming the file and why, exit 0',
              (r.stdout, r.stderr))
        r = root('--check-config')
        check(r.stdout.strip() == '%s: configuration ok' % agent.cfg_path and r.stderr == '',
              '--check-config by root: ok, no warning', (r.stdout, r.stderr))

        # ------------------------------------------------ the node key, through the daemon
        log0 = agent.log_size()
        r = op('--maintenance', 'on', '--reason', 'ops change')
        check(KEY in r.stdout and 'written by the agent' in r.stdout
              and 'up drain #maintenance: ops change' in r.stdout,
              'on: the node key, written by the agent, and the reply HAProxy now gets', r.stdout)
        v = lines(ec.get(KEY))
        check('mode=drain' in v and 'reason=ops change' in v and 'by=%s@%s' % (USER, host) in v,
              'the node key holds mode=drain, the reason, and by=%s@%s' % (USER, host), v)
        check(agent.reply() == 'up drain #maintenance: ops change', 'the agent drains',
              agent.reply())
        check('set-etcd-flag requested by uid %d' % uid in agent.log_text()[log0:],
              'the agent logs the request with the operator\'s uid', agent.log_tail(5))
        check(not os.path.exists(agent.flag_path), 'no flag file written')

        r = op('--maintenance', 'on', '--mode', 'maint', '--reason', 'ops maint')
        check('mode=maint' in lines(ec.get(KEY)), '--mode maint: the key holds mode=maint',
              ec.get(KEY))
        check(agent.reply() == 'up maint #maintenance: ops maint', 'the agent replies maint',
              agent.reply())

        r = op('--maintenance', 'off')
        check(ec.get(KEY) is None, 'off: the node key is deleted', ec.get(KEY))
        check(agent.reply() == READY and READY in r.stdout, 'off: ready', (agent.reply(), r.stdout))
        op('--maintenance', 'off')
        check(agent.reply() == READY, 'off again (no key to delete): exit 0, ready')

        # ------------------------------------------------ --local, through set-flag
        op('--maintenance', 'on', '--local', '--reason', 'ops local')
        with open(agent.flag_path) as f:
            text = f.read().splitlines()
        check('reason=ops local' in text and 'by=%s@%s' % (USER, host) in text,
              '--local: the flag file, written by the daemon for the operator', text)
        check(agent.reply() == 'up drain #maintenance: ops local', '--local: drains',
              agent.reply())
        op('--maintenance', 'off', '--local')
        check(not os.path.exists(agent.flag_path) and agent.reply() == READY,
              'off --local: the file is gone, ready')

        # ------------------------------------------------ --all needs credentials of one's own
        r = op('--maintenance', 'on', '--all', '--yes', '--reason', 'not mine', want_rc=1)
        check(secret in r.stderr and 'Permission denied' in r.stderr and '--config' in r.stderr,
              '--all: refused, naming the password file and --config', r.stderr)
        check(ec.get(all_key()) is None, '--all: nothing written')

        # ------------------------------------------------ root, daemon running
        log0 = agent.log_size()
        r = root('--maintenance', 'on', '--reason', 'root change')
        check('written by the agent' in r.stdout, 'root: through the daemon too', r.stdout)
        check('by=root@%s' % host in lines(ec.get(KEY)), 'root: by=root@%s' % host, ec.get(KEY))
        check('set-etcd-flag requested by uid 0' in agent.log_text()[log0:],
              'root: logged for uid 0', agent.log_tail(5))
        root('--maintenance', 'off')
        check(ec.get(KEY) is None and agent.reply() == READY, 'root: off')

        # ------------------------------------------------ daemon stopped
        check(agent.stop() == 0, 'the agent exits 0 on SIGTERM')
        r = op('--maintenance', 'on', '--reason', 'while stopped', want_rc=1)
        check('not running' in r.stderr and secret in r.stderr and 'Permission denied' in r.stderr,
              'daemon stopped: the operator is told the agent is not running and the secret '
              'is not theirs', r.stderr)
        check(ec.get(KEY) is None, 'daemon stopped: nothing written by the operator')
        r = root('--maintenance', 'on', '--reason', 'while stopped')
        check('not running' in r.stdout and 'reason=while stopped' in lines(ec.get(KEY)),
              'daemon stopped: root writes etcd itself', (r.stdout, ec.get(KEY)))
        agent.start()
        check_within(lambda: agent.reply() == 'up drain #maintenance: while stopped', 15,
                     'started again: the agent applies it', detail=agent.reply, interval=0.005)
        op('--maintenance', 'off')
        check(ec.get(KEY) is None and agent.reply() == READY, 'the operator clears it')

        # ------------------------------------------------ a reload while etcd has not answered
        # The member stopped (SIGSTOP: connections hang), the write in flight, then a reload
        # that remakes the etcd client: the operator gets an error at once, not silence.
        ec.member(1).proc.send_signal(signal.SIGSTOP)
        try:
            log0 = agent.log_size()
            t0 = time.monotonic()
            p = subprocess.Popen(
                ['setpriv', '--reuid=' + USER, '--regid=nogroup', '--init-groups', '--', binary,
                 '--config', agent.cfg_path, '--maintenance', 'on', '--reason', 'during reload'],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True)
            agent.wait_log('set-etcd-flag requested by uid %d' % uid, start=log0, timeout=10)
            agent.settings['etcd']['timeout_ms'] = 1500
            agent.write_config()
            agent.hup()
            out, err = p.communicate(timeout=30)
            seconds = time.monotonic() - t0
            show(USER + ', reload meanwhile', ['--maintenance', 'on', '--reason', 'during reload'],
                 subprocess.CompletedProcess(p.args, p.returncode, out, err), seconds)
            check(p.returncode == 1 and 'restarted' in err and KEY in err,
                  'a reload that remakes the etcd client answers the write in flight with an '
                  'error (%.2f s)' % seconds, (p.returncode, out, err))
        finally:
            ec.member(1).proc.send_signal(signal.SIGCONT)
        wait_etcd_state(agent, lambda s: s.get('reachable') is True, 'reachable again',
                        timeout=15)
        op('--maintenance', 'off')   # the hung write may have landed once etcd resumed
        check(ec.get(KEY) is None and agent.reply() == READY, 'cleared')

        # ------------------------------------------------ etcd gone: the daemon's error
        ec.stop_member(1)
        r = op('--maintenance', 'on', '--reason', 'etcd down', want_rc=1, timeout=30)
        check('the agent says' in r.stderr and 'etcd' in r.stderr and ADDR in r.stderr,
              'etcd stopped: exit 1 with the daemon\'s etcd error', r.stderr)
        # The bound: each endpoint once per attempt (4 attempts) at etcd.timeout_ms, + 5 s.
        check(r.seconds < 4 * 1.0 + 5, 'answered within the bound (%.2f s)' % r.seconds)
        check(agent.reply() == READY, 'the agent stays ready', agent.reply())
        check(agent.stop() == 0, 'the agent exits 0 on SIGTERM')

    # ---------------------------------------------------- --check-config still fails...
    def config_with(name, password_file):
        path = os.path.join(work, name)
        text = open(agent.cfg_path).read().replace('"%s"' % secret, '"%s"' % password_file)
        with open(path, 'w') as f:
            f.write(text)
        return path

    own = os.path.join(work, 'etcd-password-own')
    with open(own, 'w') as f:
        f.write('x\n')
    os.chown(own, uid, -1)
    os.chmod(own, 0)
    cfg = config_with('own.conf', own)
    r = op('--check-config', config=cfg, want_rc=1)
    check(own in r.stderr and 'Permission denied' in r.stderr and 'warning' not in r.stderr,
          '...for the file\'s owner (mode 0000): exit 1, the error', r.stderr)
    missing = os.path.join(work, 'no-such-password')
    cfg = config_with('missing.conf', missing)
    r = op('--check-config', config=cfg, want_rc=1)
    check(missing in r.stderr and 'No such file' in r.stderr, '...for a missing file (operator)',
          r.stderr)
    r = root('--check-config', config=cfg, want_rc=1)
    check(missing in r.stderr and 'No such file' in r.stderr, '...for a missing file (root)',
          r.stderr)


if __name__ == '__main__':
    main(run)
