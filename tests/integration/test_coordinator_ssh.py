#!/usr/bin/python3
"""zdu-coordinator reaches agents as ssh:HOST: it runs `ssh_command HOST remote_agent ...
--json` and reads the agent's status JSON. Here ssh is tests/lib/fake_ssh.py, which, like
ssh, joins the remote words into one string run by a shell (/bin/sh, locally), in the
environment its host map gives the host: ZDU_CONFIG, the config of that node's agent, used
by remote_agent = '.../zdu-agent --config "$ZDU_CONFIG"'.

A full rollout of three nodes completes through ssh links (every status, set and clear of
the flag went through fake_ssh, to the right host). The first node's name holds quotes,
spaces and shell specials; the drain reason the coordinator sends,
"zdu-coordinator: upgrading NAME", reaches the node's agent byte for byte, as shell_quote()
must guarantee through the remote shell."""
import json
import os
import sys

from agentlib import agent_binary, check, main
from clusterlib import Cluster

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE_SSH = os.path.abspath(os.path.join(HERE, '..', 'lib', 'fake_ssh.py'))
# Quotes of both kinds, spaces, ; $() `` $VAR \ and a glob: each breaks a badly quoted command.
WEIRD = 'api "one"; it\'s $(id) `x` $HOME \\n *'


def run():
    with Cluster(nodes=3, lbs=2) as cl:
        mapfile, record = cl.upgrade_map()
        hosts = os.path.join(cl.workdir, 'hosts.json')
        ssh_log = os.path.join(cl.workdir, 'ssh.jsonl')
        with open(hosts, 'w') as f:
            json.dump(dict(log=ssh_log, hosts={
                'api%d.example' % (i + 1): dict(env=dict(ZDU_CONFIG=n['agent'].cfg_path),
                                                cwd=n['agent'].workdir)
                for i, n in enumerate(cl.nodes)}), f)
        names = [WEIRD, 'node2', 'node3']
        entries = [dict(name=names[i], server=n['name'], agent='ssh:api%d.example' % (i + 1))
                   for i, n in enumerate(cl.nodes)]
        extra = ('ssh_command = [ "%s", "%s", "--hosts", "%s", "-o", "BatchMode=yes" ];\n'
                 'remote_agent = "%s --config \\"$ZDU_CONFIG\\"";\n'
                 % (sys.executable or '/usr/bin/python3', FAKE_SSH, hosts, agent_binary()))
        plan = cl.write_plan(cl.upgrade_command(mapfile, '{server}'), expect_version='2.93',
                             node_entries=entries, extra=extra,
                             timeouts=dict(poll_ms=200, request_ms=5000))
        r = cl.coordinator('--plan', plan, '--check')
        check(r.returncode == 0, 'the plan with ssh links is valid', r)

        # Catch the reason while node1 is drained: the status the coordinator itself gets.
        r = cl.coordinator('--plan', plan, '--json', timeout=300)
        print(r.stdout[-5000:], r.stderr, sep='\n')
        check(r.returncode == 0, 'rollout through ssh links: exit 0', r.returncode)
        ev = [json.loads(line) for line in r.stdout.splitlines()]
        want = 'zdu-coordinator: upgrading ' + WEIRD
        flag_ok = [e for e in ev if e['node'] == WEIRD and e['step'] == 'drain' and e['event'] == 'ok']
        check(flag_ok, 'node1 (weird name) flagged', ev[:10])
        check(want in flag_ok[0]['message'],
              'the agent replies with the reason byte for byte (quotes, spaces, $, `, ;)',
              flag_ok[0]['message'])
        done = [e['node'] for e in ev if e['step'] == 'wait-up' and e['event'] == 'ok']
        check(done == names, 'every node back in service, in order', done)

        # The node's own view: what the agent logged as the flag's reason.
        log = cl.node('node1')['agent'].log_text()
        check(want in log, 'node1 agent logged the exact reason', log[-2000:])

        calls = [json.loads(line) for line in open(ssh_log)]
        by_host = {}
        for c in calls:
            by_host.setdefault(c['host'], []).append(c['command'])
        check(sorted(by_host) == ['api1.example', 'api2.example', 'api3.example'],
              'fake ssh called for each host', sorted(by_host))
        for i, n in enumerate(cl.nodes):
            cmds = by_host['api%d.example' % (i + 1)]
            check(all(c.startswith(agent_binary() + ' --config "$ZDU_CONFIG" ') for c in cmds),
                  '%s: every command starts with remote_agent' % n['name'], cmds[:2])
            sets = [c for c in cmds if '--maintenance on' in c]
            clears = [c for c in cmds if '--maintenance off' in c]
            check(len(sets) == 1 and len(clears) == 1 and
                  any('--status' in c for c in cmds), '%s: status, one set, one clear via ssh'
                  % n['name'], (len(sets), len(clears)))
            check(all(c.endswith('--json') for c in cmds), '%s: --json on every call' % n['name'])
        bad = [c for c in calls if c['rc'] != 0]
        check(not bad, 'every remote command exited 0', bad[:3])
        seen = [json.loads(line) for line in open(record)]
        check([s['node'] for s in seen] == ['node1', 'node2', 'node3'], 'every node upgraded')
        for s in seen:
            for lb, st in s['seen'].items():
                check('DRAIN' in st['status'] and st['scur'] == 0,
                      '%s drained on %s when upgraded' % (s['node'], lb), st)
        cl.wait_all_up(timeout=15)
        for n in cl.nodes:
            st = n['agent'].status()
            check(not st['flag']['active'] and st['health']['version'] == '2.93',
                  '%s: flag cleared, at 2.93' % n['name'])

        # An unknown host (node2, first in this plan): ssh's own failure is reported, exit 4
        # at the preflight.
        entries[1]['agent'] = 'ssh:nowhere.example'
        entries = [entries[1], entries[0], entries[2]]
        plan = cl.write_plan(cl.upgrade_command(mapfile, '{server}'), node_entries=entries,
                             extra=extra, name='plan2.conf',
                             journal=os.path.join(cl.workdir, 'journal2'))
        r = cl.coordinator('--plan', plan, timeout=120)
        print(r.stdout, r.stderr, sep='\n')
        check(r.returncode == 4, 'unreachable ssh host: exit 4', r.returncode)
        check('Could not resolve hostname nowhere.example' in r.stdout,
              'ssh\'s own message is shown', r.stdout)
        for n in cl.nodes:
            check(not n['agent'].status()['flag']['active'], '%s: no flag' % n['name'])
        check(len(open(record).readlines()) == 3, 'no upgrade ran')


def ssh_missing():
    """An ssh_command that cannot run: the preflight refuses (exit 4) and names it. Was a bug:
    spawn.c answered a failed uv_spawn through a cast callback that read the wrong struct, so the
    coordinator never heard of the failure, leaked and exited 1 saying nothing useful."""
    with Cluster(nodes=2, lbs=1) as cl:
        entries = [dict(name='node1', server='node1', agent='ssh:node1'),
                   dict(name='node2', server='node2',
                        agent='unix:' + cl.node('node2')['agent'].sock_path)]
        plan = cl.write_plan('true', node_entries=entries,
                             extra='ssh_command = [ "/nonexistent/ssh" ];')
        r = cl.coordinator('--plan', plan, '--dry-run')
        print(r.stdout[-800:], r.stderr[-800:])
        check(r.returncode == 4, 'ssh_command that cannot run: preflight exit 4', r.returncode)
        check('cannot run /nonexistent/ssh' in r.stdout, 'the message names the command', r.stdout)


def run_all():
    run()
    ssh_missing()


if __name__ == '__main__':
    main(run_all)
