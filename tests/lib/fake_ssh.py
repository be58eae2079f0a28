#!/usr/bin/python3
"""A stand-in for the ssh client in coordinator tests: every "host" is this machine.

    fake_ssh.py --hosts MAPFILE [ssh options] HOST COMMAND...

Like ssh, it joins COMMAND... with single spaces into ONE string and has a shell run it
(sshd runs `$SHELL -c STRING` on the remote side): so the quoting the caller did for the
remote shell is exercised exactly as with a real ssh. Here the shell is /bin/sh, on this
machine, with the environment and working directory the map gives HOST: that is how one
machine plays several nodes (each node's zdu-agent with its own config). A plan uses it as

    ssh_command = [ "/usr/bin/python3", "/path/tests/lib/fake_ssh.py", "--hosts", "/path/hosts.json" ];
    remote_agent = "/path/zdu-agent --config \\"$ZDU_CONFIG\\"";

MAPFILE is JSON:
    {"hosts": {"node1": {"env": {"ZDU_CONFIG": "/tmp/x/node1/node1.conf"}, "cwd": "/tmp/x/node1"},
               ...},
     "log": "/tmp/x/ssh.jsonl"}          (optional)
"log" gets one JSON line per call: {"host", "command" (the joined string), "rc"}.

ssh's own options are accepted and ignored: flags (-T, -n, -q, -4, ...) and the options with
an argument (-o X, -p N, -l USER, -i FILE, -F FILE, -J HOST, -E FILE). USER@HOST is HOST.
An unknown HOST exits 255 with ssh's message, as ssh does when it cannot connect; otherwise
the exit status is the remote command's. stdin, stdout and stderr pass through.
"""
import json
import os
import subprocess
import sys

OPTS_WITH_ARG = set('bcDEeFIiJLlmOopQRSWw')


def fail(msg):
    sys.stderr.write('fake_ssh: %s\n' % msg)
    sys.exit(255)


def main(argv):
    mapfile = None
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == '--hosts':
            if i + 1 >= len(argv):
                fail('--hosts needs a file')
            mapfile = argv[i + 1]
            i += 2
        elif a == '--':
            i += 1
            break
        elif a.startswith('-') and len(a) > 1:
            # -oBatchMode=yes or -o BatchMode=yes; -Tq...
            if a[1] in OPTS_WITH_ARG and len(a) == 2:
                i += 2
            else:
                i += 1
        else:
            break
    if mapfile is None:
        fail('usage: fake_ssh.py --hosts MAPFILE [ssh options] HOST COMMAND...')
    if i >= len(argv):
        fail('no host given')
    host = argv[i].rsplit('@', 1)[-1]
    command = ' '.join(argv[i + 1:])
    with open(mapfile) as f:
        mp = json.load(f)
    spec = mp.get('hosts', {}).get(host)
    if spec is None:
        sys.stderr.write('ssh: Could not resolve hostname %s: Name or service not known\n' % host)
        sys.exit(255)
    if not command:
        fail('no remote command (an interactive session is not supported)')
    env = dict(os.environ)
    env.update(spec.get('env', {}))
    rc = subprocess.call(['/bin/sh', '-c', command], env=env, cwd=spec.get('cwd') or None)
    if mp.get('log'):
        with open(mp['log'], 'a') as f:
            f.write(json.dumps(dict(host=host, command=command, rc=rc)) + '\n')
    return rc


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
