#!/usr/bin/python3
"""Broken surroundings: each gives a clear error naming what and where, the documented exit
code (README: 0 ok, 1 error), and keeps the last good state.

The state directory (the flag's) is a 64 KiB tmpfs mounted for the test (root needed: exit 77
with a message when mounting is refused).
  * full file system: `--maintenance on` (drain and maint) exits 1 naming the flag file and
    "No space left on device"; the daemon's set-flag says the same; the old flag is intact
    byte for byte, no temporary file is left, the daemon's reply is unchanged.
    `--maintenance off` still works (removing needs no space);
  * read-only file system (remount,ro): `--maintenance on` and `off` exit 1 naming the flag
    file and "Read-only file system" (the CLI falls back to the daemon, which cannot write it
    either); old flag and reply unchanged;
  * a state directory the user cannot write (a non-root user, setpriv): the CLI falls back to
    the daemon's set-flag and succeeds (exit 0); with the daemon stopped it
    exits 1 naming the flag file and the control socket; flag unchanged;
  * a stale control socket left by a SIGKILLed daemon: the CLI writes the flag and says the
    agent is not running (exit 0); the next daemon replaces the socket and says so;
  * a regular file where the control socket goes: the daemon exits 1 naming it, file
    untouched;
  * the agent port already in use: the daemon exits 1 naming the address; no control socket
    is left behind;
  * the flag directory's attributes change (chmod): was a bug (fixed; a regression check now): the daemon
    takes the inotify event on the directory itself (IN_ATTRIB|IN_ISDIR, which libuv reports
    as UV_RENAME with the directory's name) for a replacement of the directory
    (agent/daemon/flag_file.c:43), drops the watch and sees direct flag writes only at the next
    periodic check (poll_interval_ms, default 1 s) instead of within milliseconds;
  * was a bug (fixed; a regression check now): the flag the daemon writes for a non-root user says
    by=root@host, not nobody@host: agent/daemon/daemon.c:175 keeps getpwuid()'s static result across
    zdu_flag_stamp(), which calls getpwuid(geteuid()) again (agent/common/flag.c:331).
"""

import os
import pwd
import socket
import subprocess
import time

from agentlib import Agent, agent_binary
from hardlib import Skip, hard_main, tmpfs
from testutil import tempdir


def cli_as(agent, user, *args):
    argv = [agent_binary(), '--config', agent.cfg_path] + list(args)
    if user:
        pw = pwd.getpwnam(user)
        argv = ['setpriv', '--reuid=%d' % pw.pw_uid, '--regid=%d' % pw.pw_gid,
                '--clear-groups'] + argv
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=30)


def read(path):
    try:
        with open(path, 'rb') as f:
            return f.read()
    except FileNotFoundError:
        return None


def temps(d):
    return [n for n in os.listdir(d) if n.startswith('.maintenance.')]


def expect_refused(rows, what, agent, args, needles, before, reply_before, user=None,
                   names=None):
    """A CLI command that must fail: exit 1, the error names NEEDLES (described in the row as
    NAMES), the old flag intact, no temporary file, and the reply unchanged."""
    r = cli_as(agent, user, *args)
    err = r.stderr.strip()
    cmd = '`%s`' % ' '.join(args)
    print('%s: %s: exit %d: %s' % (what, cmd, r.returncode, err), flush=True)
    rows.count(what, 'CLI exits 1', r.returncode == 1, (cmd, r.returncode, err))
    missing = [n for n in needles if n not in err]
    rows.count(what, 'the error names %s' % (names or ', '.join(needles)), not missing,
               (cmd, err))
    rows.count(what, 'old flag intact, no temporary file left',
               read(agent.flag_path) == before and not temps(agent.flag_dir),
               (cmd, read(agent.flag_path), temps(agent.flag_dir)))
    if reply_before is not None:
        got = agent.reply()
        rows.count(what, 'the reply is unchanged', got == reply_before, (cmd, got, reply_before))


def run(rows):
    if os.geteuid() != 0:
        raise Skip('mounting a tmpfs as the state directory needs root')
    work = tempdir('zdu-surr-')
    os.chmod(work, 0o755)                       # the non-root CLI reads the config in it
    state = os.path.join(work, 'state')
    with tmpfs(state, '64k'):
        flag = os.path.join(state, 'maintenance')
        agent = Agent(workdir=work, flag_file=flag,
                      settings={'control': {'mode': '0666'}})
        os.chmod(agent.cfg_path, 0o644)
        agent.start()

        # ------------------------------------------------------------ full file system
        what = 'full file system (64 KiB tmpfs; CLI on drain, on maint, daemon set-flag)'
        r = agent.cli('--maintenance', 'on', '--reason', 'before full')
        rows.count(what, 'flag set before filling it: exit 0', r.returncode == 0, r.stderr)
        before = read(flag)
        reply0 = agent.reply()
        filler = os.path.join(state, 'filler')
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            while True:
                os.write(fd, b'\0' * 4096)
        except OSError:
            pass
        os.close(fd)
        st = os.statvfs(state)
        print('tmpfs filled: %d bytes free' % (st.f_bavail * st.f_frsize), flush=True)
        for args in (('--maintenance', 'on', '--reason', 'while full'),
                     ('--maintenance', 'on', '--mode', 'maint', '--reason', 'while full')):
            expect_refused(rows, what, agent, args, [flag, 'No space left on device'], before,
                           reply0, names='the flag file and "No space left on device"')
        j = agent.control('set-flag drain via the daemon')
        print('%s: daemon set-flag: %s' % (what, j), flush=True)
        rows.count(what, 'the error names the flag file and "No space left on device"',
                   j.get('ok') is False and flag in j.get('error', '')
                   and 'No space left on device' in j.get('error', ''), ('set-flag', j))
        rows.count(what, 'old flag intact, no temporary file left',
                   read(flag) == before and not temps(state), 'set-flag')
        rows.count(what, 'the reply is unchanged', agent.reply() == reply0, 'set-flag')
        r = agent.cli('--maintenance', 'off')
        rows.count(what, '`--maintenance off` still works on a full file system (exit 0, '
                   'reply ready)', r.returncode == 0 and read(flag) is None
                   and agent.reply() == 'up ready 100%', (r.returncode, r.stderr))
        os.unlink(filler)

        # ------------------------------------------------------------ read-only file system
        what = 'read-only state directory (remount,ro; `--maintenance on`, `off`)'
        r = agent.cli('--maintenance', 'on', '--reason', 'before ro')
        before, reply0 = read(flag), agent.reply()
        rows.count(what, 'flag set before: exit 0', r.returncode == 0, r.stderr)
        m = subprocess.run(['mount', '-o', 'remount,ro', state], capture_output=True, text=True)
        if m.returncode != 0:
            raise Skip('cannot remount %s read-only: %s' % (state, m.stderr.strip()))
        try:
            for args in (('--maintenance', 'on', '--reason', 'while ro'),
                         ('--maintenance', 'off')):
                expect_refused(rows, what, agent, args, [flag, 'Read-only file system'], before,
                               reply0, names='the flag file and "Read-only file system"')
            time.sleep(0.2)
            rows.count(what, 'the daemon keeps running and replying', agent.running()
                       and agent.reply() == reply0)
        finally:
            subprocess.run(['mount', '-o', 'remount,rw', state], check=True)

        # ------------------------------------------------------------ not writable by the user
        what = 'state directory not writable by the user (nobody, setpriv)'
        os.chmod(state, 0o755)
        r = cli_as(agent, 'nobody', '--maintenance', 'on', '--reason', 'by nobody')
        data = read(flag) or b''
        print('%s: exit %d: %s %s' % (what, r.returncode, r.stdout.strip(), r.stderr.strip()),
              flush=True)
        rows.count(what, 'the CLI falls back to the daemon: exit 0, flag written by the daemon',
                   r.returncode == 0 and b'reason=by nobody\n' in data
                   and agent.reply() == 'up drain #maintenance: by nobody',
                   (r.returncode, r.stderr, data))
        by = [ln for ln in data.decode().splitlines() if ln.startswith('by=')]
        rows.count(what, "the flag's by= names the requesting user (nobody@host)",
                   b'\nby=nobody@' in data, by)
        before = read(flag)
        agent.stop()
        expect_refused(rows, what + ', daemon stopped', agent,
                       ('--maintenance', 'off'), [flag, agent.sock_path], before, None,
                       user='nobody', names='the flag file and the control socket')

        # ------------------------------------------------------------ stale socket
        what = 'stale control socket (daemon SIGKILLed)'
        agent.start()
        agent.kill()
        rows.count(what, 'the socket file is left behind', os.path.exists(agent.sock_path))
        r = agent.cli('--maintenance', 'on', '--reason', 'stale socket')
        print('%s: CLI: exit %d: %s%s' % (what, r.returncode, r.stdout.strip(), r.stderr.strip()),
              flush=True)
        rows.count(what, 'the CLI writes the flag and says the agent is not running (exit 0)',
                   r.returncode == 0 and 'not running' in r.stdout
                   and b'reason=stale socket\n' in (read(flag) or b''), (r.stdout, r.stderr))
        log0 = agent.log_size()
        agent.start()
        rows.count(what, 'the next daemon replaces it, says so, and replies from the flag',
                   'removing a stale socket' in agent.log_text()[log0:]
                   and agent.reply() == 'up drain #maintenance: stale socket',
                   agent.log_tail(5))
        agent.stop()

        # ------------------------------------------------------------ regular file as socket
        what = 'regular file where the control socket goes'
        content = b'precious\n'
        with open(agent.sock_path, 'wb') as f:
            f.write(content)
        r = agent.run_foreground(timeout=20)
        err = (r.stderr + r.stdout).strip()
        print('%s: exit %d: %s' % (what, r.returncode, err), flush=True)
        rows.count(what, 'the daemon exits 1 naming the path and "not a socket"',
                   r.returncode == 1 and agent.sock_path in err and 'not a socket' in err, err)
        rows.count(what, 'the file is untouched', read(agent.sock_path) == content)
        os.unlink(agent.sock_path)

        # ------------------------------------------------------------ port in use
        what = 'agent port already in use'
        blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # past TIME_WAITs
        blocker.bind((agent.addr, agent.port))
        blocker.listen(1)
        r = agent.run_foreground(timeout=20)
        err = (r.stderr + r.stdout).strip()
        print('%s: exit %d: %s' % (what, r.returncode, err), flush=True)
        rows.count(what, 'the daemon exits 1 naming agent.listen and the address',
                   r.returncode == 1 and 'agent.listen' in err
                   and '%s:%d' % (agent.addr, agent.port) in err, err)
        rows.count(what, 'no control socket left behind', not os.path.exists(agent.sock_path))
        rows.count(what, 'the flag is untouched', b'reason=stale socket\n' in (read(flag) or b''))
        blocker.close()
        agent.start()
        rows.count(what, 'once the port is free, the daemon starts and replies from the flag',
                   agent.reply() == 'up drain #maintenance: stale socket')
        agent.stop()

    # ---------------------------------------------------------------- directory attributes
    # chmod/chown/touch of the flag directory (systemd-tmpfiles, configuration management)
    # is not a replacement of it: the watch must stay, direct flag writes seen in ms.
    what = 'flag directory attributes changed (chmod, as systemd-tmpfiles does)'
    a = Agent(settings={'flag': {'poll_interval_ms': 1000}}, name='attr')
    a.start()
    log0 = a.log_size()
    os.chmod(a.flag_dir, 0o750)
    time.sleep(0.05)
    a.write_flag('mode=drain\nreason=after chmod\n')
    _, dt = a.wait_reply('up drain #maintenance: after chmod', timeout=5)
    print('%s: a direct flag write seen after %.0f ms; log: %s' % (
        what, dt * 1e3, a.log_text()[log0:].strip().splitlines()[:1]), flush=True)
    rows.count(what, 'the flag is still read (by the periodic check at least)', True)
    rows.count(what, 'a direct flag write is seen within 100 ms (the watch is kept)',
                   dt < 0.1, '%.0f ms: %s' % (dt * 1e3, a.log_text()[log0:].strip()[:200]))
    a.stop()


if __name__ == '__main__':
    hard_main(run)
