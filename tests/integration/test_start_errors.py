#!/usr/bin/python3
"""The daemon refuses to start, loudly and without side effects, when it cannot do its job.

  * agent port already in use -> exit 1, the message names the address; no control socket
    is left behind; the same without --foreground (the parent waits for the child's verdict);
  * control socket path occupied by a regular file -> exit 1, the file untouched;
  * a stale socket file left by a SIGKILLed agent -> replaced, the new agent starts and
    answers on it;
  * a second agent with the same control socket (another port) -> exit 1 ('another
    zdu-agent answers there'), the first agent and its socket unharmed;
  * flag directory missing -> exit 1 naming it;
  * config file missing (given with --config) -> exit 1 naming it.
"""

import json
import os
import socket
import time

from agentlib import Agent, check, main, run_cli


def expect_failure(agent, what, needles, args=('--foreground',)):
    t0 = time.monotonic()
    r = agent.run_foreground(timeout=20, args=args)
    dt = time.monotonic() - t0
    out = r.stderr + r.stdout
    print('%s: exit %s after %.0f ms: %s' % (what, r.returncode, dt * 1000, out.strip()))
    check(r.returncode == 1, '%s: exit 1' % what, (r.returncode, out))
    for n in needles:
        check(n in out, '%s: the message names %r' % (what, n), out)
    return r


def run():
    # ---------------------------------------------------------------- port in use
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    blocker.bind(('127.0.0.1', 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    a = Agent(port=port)
    expect_failure(a, 'port in use', ['127.0.0.1:%d' % port, 'agent.listen'])
    check(not os.path.exists(a.sock_path), 'port in use: no control socket left behind')
    r = expect_failure(a, 'port in use, daemonizing', ['127.0.0.1:%d' % port], args=())
    if r.returncode == 0:   # it daemonized after all: do not leave it behind
        try:
            pid = json.loads(a.cli('--status', '--json').stdout)['pid']
            os.kill(pid, 15)
        except Exception:
            pass
    check(not os.path.exists(a.sock_path), 'daemonizing: no control socket left behind')
    blocker.close()

    # ---------------------------------------------------------------- socket path is a file
    a = Agent()
    content = b'precious, not a socket\n'
    with open(a.sock_path, 'wb') as f:
        f.write(content)
    st0 = os.stat(a.sock_path)
    expect_failure(a, 'control socket path is a regular file', [a.sock_path, 'not a socket'])
    st1 = os.stat(a.sock_path)
    with open(a.sock_path, 'rb') as f:
        check(f.read() == content and st1.st_ino == st0.st_ino
              and st1.st_mtime_ns == st0.st_mtime_ns, 'the regular file is untouched')
    os.unlink(a.sock_path)

    # ---------------------------------------------------------------- stale socket
    a = Agent()
    a.start()
    a.kill()
    check(os.path.exists(a.sock_path), 'SIGKILLed agent left its socket file behind')
    a.start()
    check(a.status()['pid'] == a.proc.pid, 'stale socket replaced: the new agent answers on it')
    check('removing a stale socket' in a.log_text(), 'the log says the stale socket was removed')
    check(a.reply() == 'up ready 100%', 'and answers probes', a.reply())

    # ---------------------------------------------------------------- second agent, same socket
    b = Agent(workdir=a.workdir, name='second', control_socket=a.sock_path,
              flag_file=a.flag_path)
    check(b.port != a.port, 'second agent on another port')
    expect_failure(b, 'second agent with the same control socket',
                   [a.sock_path, 'another zdu-agent answers there'])
    check(os.path.exists(a.sock_path) and a.status()['pid'] == a.proc.pid,
          'the first agent still owns its control socket')
    check(a.reply() == 'up ready 100%', 'the first agent still answers probes')
    r = a.cli('--maintenance', 'on', '--reason', 'still mine')
    check(r.returncode == 0 and 'HAProxy now gets: up drain #maintenance: still mine' in r.stdout,
          'the CLI still reaches the first agent', (r.stdout, r.stderr))
    rc = a.stop()
    check(rc == 0 and not os.path.exists(a.sock_path), 'first agent: SIGTERM, exit 0, socket gone')

    # ---------------------------------------------------------------- flag directory missing
    work = os.path.dirname(a.flag_dir)
    missing = os.path.join(work, 'no-such-dir')
    c = Agent(workdir=work, name='third', flag_file=os.path.join(missing, 'maintenance'))
    expect_failure(c, 'flag directory missing', [missing, 'flag.file'])
    check(not os.path.exists(c.sock_path), 'flag directory missing: no control socket left')
    check(not os.path.exists(missing), 'flag directory missing: not created behind our back')

    # ---------------------------------------------------------------- config missing
    d = Agent(workdir=work, name='fourth')
    os.unlink(d.cfg_path)     # run_foreground() would write it again: run the binary directly
    r = run_cli(['--config', d.cfg_path, '--foreground'], timeout=20)
    print('config missing: exit %s: %s' % (r.returncode, r.stderr.strip()))
    check(r.returncode == 1 and d.cfg_path in r.stderr and 'cannot open' in r.stderr,
          'config file missing: exit 1 naming it', (r.returncode, r.stderr))


if __name__ == '__main__':
    main(run)
