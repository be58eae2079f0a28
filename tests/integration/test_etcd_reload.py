#!/usr/bin/python3
"""etcd comes and goes with a reload (SIGHUP), never with a restart.

An agent without etcd replies ready though its node key in etcd says drain. A reload that adds
the etcd group makes it read the key (drain, with etcd's reason); a reload with other etcd
settings (a new prefix) moves it to that prefix's keys; a reload that removes the group drops
etcd's flag (ready again once the local flag is gone too). Its pid never changes, and the local
flag file keeps winning throughout."""
from agentlib import Agent, check, main
import os

from etcdlib import EtcdCluster, agent_etcd_settings, flag_value, node_key, wait_etcd_state
from testutil import tempdir, wait_until

READY = 'up ready 100%'


def run():
    work = tempdir('zdu-it-etcd-reload-')
    with EtcdCluster(work) as ec:
        ec.put(node_key('n1'), flag_value('from etcd'))
        ec.put(node_key('n1', prefix='/other'), flag_value('other prefix'))
        with Agent(workdir=work) as agent:
            pid = agent.status()['pid']
            check(agent.reply() == READY, 'no etcd configured: ready', agent.reply())
            check(agent.status()['flag'].get('etcd') is None, 'status: no etcd source')

            agent.settings.update(agent_etcd_settings(ec, node='n1'))
            agent.write_config()
            agent.hup()
            agent.wait_reply('up drain #maintenance: from etcd', timeout=10)
            wait_etcd_state(agent, lambda s: s.get('reachable') is True, 'reachable after the reload')

            agent.settings['etcd']['prefix'] = '/other'
            agent.write_config()
            agent.hup()
            agent.wait_reply('up drain #maintenance: other prefix', timeout=10)
            check(agent.status()['flag']['etcd']['keys']['node']['key'] == node_key('n1', '/other'),
                  'reload with a new prefix: the new keys', agent.status()['flag']['etcd']['keys'])

            with open(agent.flag_path, 'w') as f:
                f.write(flag_value('local'))
            agent.wait_reply('up drain #maintenance: local', timeout=10)

            del agent.settings['etcd']
            agent.write_config()
            agent.hup()
            wait_until(lambda: agent.status()['flag'].get('etcd') is None, timeout=10,
                       message='etcd gone from the status after the reload')
            check(agent.reply() == 'up drain #maintenance: local', 'the local flag still wins',
                  agent.reply())
            os.unlink(agent.flag_path)
            agent.wait_reply(READY, timeout=10)
            st = agent.status()
            check(st['flag'].get('etcd') is None and st['pid'] == pid,
                  'etcd removed by reload: ready, same pid %d' % pid, st['flag'])


if __name__ == '__main__':
    main(run)
