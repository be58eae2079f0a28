#!/usr/bin/python3
"""`zdu-agent --maintenance` with etcd configured writes etcd; --local the file; --all is guarded.

Agent n1 with a 3-member etcd cluster:
  * `--maintenance on --reason R` -> exit 0, /zdu/maintenance/nodes/n1 holds mode=drain and
    reason=R (flag file format), no local flag file, the agent replies the drain;
    `--mode maint` -> mode=maint, 'up maint #maintenance: R'; `--maintenance off` -> the key
    is deleted, ready;
  * `--local`: the local flag file is written / removed, etcd untouched;
  * `--all` without `--yes` -> exit 2 (usage), nothing written; `--all --yes` -> exit 0,
    /zdu/maintenance/all is set and the agent drains (status source 'all'); off --all --yes
    deletes it;
  * with the daemon stopped, `--maintenance on` still writes the key (exit 0) and the agent
    started afterwards drains; `--status --json` shows the etcd source.
"""

import json
import os

from agentlib import Agent, check, check_within, cli_expect, main
from etcdlib import (EtcdCluster, agent_etcd_settings, all_key, etcd_state, node_key,
                     wait_etcd_state)
from testutil import tempdir

READY = 'up ready 100%'
NODE = 'n1'
KEY = node_key(NODE)


def lines(value):
    return (value or b'').decode('utf-8', 'replace').splitlines()


def run():
    work = tempdir('zdu-it-etcd-cli-')
    with EtcdCluster(work) as ec:
        with Agent(workdir=work, settings=agent_etcd_settings(ec, node=NODE)) as agent:
            wait_etcd_state(agent, lambda s: s.get('reachable') is True, 'reachable',
                            timeout=10)

            # ------------------------------------------------ node key
            cli_expect(agent, '--maintenance', 'on', '--reason', 'etcd cli')
            v = lines(ec.get(KEY))
            check('mode=drain' in v and 'reason=etcd cli' in v,
                  'the node key holds mode=drain, reason=etcd cli', v)
            check(not os.path.exists(agent.flag_path), 'no local flag file written')
            check_within(lambda: agent.reply() == 'up drain #maintenance: etcd cli', 5,
                         'the agent replies the drain', detail=agent.reply, interval=0.005)
            check(etcd_state(agent).get('source') == 'node', 'status source node',
                  etcd_state(agent))

            cli_expect(agent, '--maintenance', 'on', '--mode', 'maint', '--reason', 'etcd maint')
            v = lines(ec.get(KEY))
            check('mode=maint' in v and 'reason=etcd maint' in v, 'the node key holds mode=maint',
                  v)
            check_within(lambda: agent.reply() == 'up maint #maintenance: etcd maint', 5,
                         'the agent replies maint', detail=agent.reply, interval=0.005)

            cli_expect(agent, '--maintenance', 'off')
            check(ec.get(KEY) is None, 'off: the node key is deleted', ec.get(KEY))
            check_within(lambda: agent.reply() == READY, 5,
                         'off: ready', detail=agent.reply, interval=0.005)

            # ------------------------------------------------ --local
            cli_expect(agent, '--maintenance', 'on', '--local', '--reason', 'local cli')
            check(os.path.exists(agent.flag_path), 'the local flag file exists')
            with open(agent.flag_path) as f:
                text = f.read()
            check('reason=local cli' in text.splitlines(), 'it holds the reason', text)
            check(ec.get(KEY) is None, '--local: no etcd key written', ec.get(KEY))
            check_within(lambda: agent.reply() == 'up drain #maintenance: local cli', 5,
                         '--local: the agent replies the local drain',
                         detail=agent.reply, interval=0.005)
            cli_expect(agent, '--maintenance', 'off', '--local')
            check(not os.path.exists(agent.flag_path), 'off --local: the flag file is removed')
            agent.wait_reply(READY, timeout=5)

            # ------------------------------------------------ --all
            r = cli_expect(agent, '--maintenance', 'on', '--all', '--reason', 'whole cluster',
                    want_rc=2)
            check(r.stderr.strip() != '', '--all without --yes: says why on stderr', r.stderr)
            check(ec.get(all_key()) is None, '--all without --yes: nothing written',
                  ec.get(all_key()))
            check(agent.reply() == READY, 'still ready', agent.reply())
            cli_expect(agent, '--maintenance', 'on', '--all', '--yes', '--reason', 'whole cluster')
            v = lines(ec.get(all_key()))
            check('mode=drain' in v and 'reason=whole cluster' in v,
                  '--all --yes: the all key holds the flag', v)
            check(ec.get(KEY) is None, '--all: the node key is not written', ec.get(KEY))
            agent.wait_reply('up drain #maintenance: whole cluster', timeout=5)
            check(etcd_state(agent).get('source') == 'all', 'status source all',
                  etcd_state(agent))
            cli_expect(agent, '--maintenance', 'off', '--all', '--yes')
            check(ec.get(all_key()) is None, 'off --all --yes: the all key is deleted')
            agent.wait_reply(READY, timeout=5)

            # ------------------------------------------------ daemon stopped
            rc = agent.stop()
            check(rc == 0, 'agent exits 0 on SIGTERM', rc)
            cli_expect(agent, '--maintenance', 'on', '--reason', 'while stopped')
            check('reason=while stopped' in lines(ec.get(KEY)),
                  'daemon stopped: the node key is written', ec.get(KEY))
            agent.start()
            check_within(lambda: agent.reply() == 'up drain #maintenance: while stopped', 10,
                         'started afterwards: it drains', detail=agent.reply, interval=0.005)
            r = cli_expect(agent, '--status', '--json')
            st = json.loads(r.stdout)
            fe = st['flag']['etcd']
            check(st['reply'] == 'up drain #maintenance: while stopped' and fe['active'] is True
                  and fe['source'] == 'node' and fe['reachable'] is True,
                  '--status --json: the reply and flag.etcd', fe)
            check(isinstance(fe.get('revision'), int) and fe['revision'] > 0
                  and isinstance(fe.get('endpoint'), str)
                  and fe['endpoint'].rstrip('/') in ec.endpoints,
                  '--status --json: flag.etcd revision and endpoint', fe)
            cli_expect(agent, '--maintenance', 'off')
            agent.wait_reply(READY, timeout=5)
            check(ec.get(KEY) is None, 'off: the key is gone')
            rc = agent.stop()
            check(rc == 0, 'agent exits 0 on SIGTERM', rc)


if __name__ == '__main__':
    main(run)
