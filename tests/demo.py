#!/usr/bin/python3
"""The local demo: a real nova-api, a real HAProxy 2.6 and zdu-agent on loopback.

Shows what HAProxy's `show stat` says while the maintenance flag is flipped and nova-api is
stopped and started again. Run through tests/demo, which installs and builds first.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lib'))
from agentlib import Agent  # noqa: E402
from haproxy import HAProxy  # noqa: E402
from testutil import free_port, tempdir  # noqa: E402

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOVA_NODE = os.path.join(SRC, 'tests', 'nova', 'nova-node')
ADDR = '127.0.0.11'
T0 = time.monotonic()


def say(msg):
    print('[%6.2fs] %s' % (time.monotonic() - T0, msg), flush=True)


def show(lb, want=None, timeout=10):
    row = lb.wait_server('api1', want, timeout=timeout) if want else lb.server('api1')
    say('  HAProxy: status=%-14s weight=%-4s agent said: %s'
        % (row['status'], row['weight'], row.get('last_agt', '')))


def main():
    work = tempdir('zdu-demo-')
    nova_dir = os.path.join(work, 'nova')
    port = free_port(ADDR)
    say('setting up a real nova-api (python3-nova under uwsgi) on %s:%d' % (ADDR, port))
    subprocess.run([NOVA_NODE, 'setup', nova_dir], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([NOVA_NODE, 'start', nova_dir, ADDR, str(port)], check=True)
    try:
        agent = Agent(addr=ADDR, settings={
            'probe': {'enabled': True, 'url': 'http://%s:%d/v2.1/' % (ADDR, port),
                      'interval_ms': 500, 'timeout_ms': 400, 'rise': 2, 'fall': 2},
            'flag': {'poll_interval_ms': 1000}})
        agent.start()
        say('zdu-agent answers on %s:%d: %s' % (agent.addr, agent.port, agent.reply()))
        lb = HAProxy(work, servers=[dict(name='api1', addr=ADDR, port=port,
                                         agent_port=agent.port, weight=100)],
                     agent_inter_ms=500)
        lb.start()
        say('HAProxy started; backend nova-api, server api1 weight 100 agent-check inter 500ms')
        show(lb, {'status': 'UP', 'agent_status': 'L7OK'})

        say('$ zdu-agent --maintenance on --reason "upgrade to 2.93"')
        r = agent.cli('--maintenance', 'on', '--reason', 'upgrade to 2.93')
        print('  ' + r.stdout.strip())
        show(lb, 'DRAIN (agent)')

        say('$ zdu-agent --maintenance off')
        r = agent.cli('--maintenance', 'off')
        print('  ' + r.stdout.strip())
        show(lb, {'status': 'UP', 'weight': '100'})

        say('stopping nova-api (the agent probes it every 500 ms, fall 2)')
        subprocess.run([NOVA_NODE, 'stop', nova_dir], check=True)
        agent.wait_reply(lambda s: s.startswith('down'), timeout=10)
        say('  agent replies: ' + agent.reply())
        show(lb, lambda row: row['status'].startswith('DOWN'))

        say('starting nova-api again (rise 2)')
        subprocess.run([NOVA_NODE, 'start', nova_dir, ADDR, str(port)], check=True,
                       stdout=subprocess.DEVNULL)
        agent.wait_reply(lambda s: s.startswith('up ready'), timeout=20)
        say('  agent replies: ' + agent.reply())
        show(lb, {'status': 'UP'}, timeout=20)

        say('$ zdu-agent --status')
        print(agent.cli('--status').stdout)
        lb.stop()
        agent.stop()
    finally:
        subprocess.run([NOVA_NODE, 'stop', nova_dir])
    say('demo done')


if __name__ == '__main__':
    main()
