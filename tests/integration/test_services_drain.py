#!/usr/bin/python3
"""Drained per service and per node (issue 17, item 4): each service counts the connections to
its own drain_ports; the node is drained when every service that counts is.

Two services on 127.0.0.132, each with an API port of its own (listeners that keep what they
accept); a client holds one connection to placement's port, none to nova-api's.
  1. `--maintenance on --service nova-api --wait 5` returns 0 ("drained") although placement is
     busy: nova-api's own port is idle.
  2. `--maintenance on --service placement --wait 1` exits 3: its connection is held; its flag
     stays set.
  3. The node: `--maintenance on --wait 1` exits 3 while placement is busy; once the client
     closes, `--wait 10` returns 0, and the status says the node and both services drained."""
import socket

from testutil import HoldingListener as Api
from agentlib import Agent, check, check_within, cli_expect, main

ADDR = '127.0.0.132'


def svc(st, name):
    return [s for s in st['services'] if s['name'] == name][0]


def run():
    nova, placement = Api(ADDR), Api(ADDR)
    text = '''drain: { settle_ms = 300; interval_ms = 100; };
services = (
  { name = "nova-api"; url = "http://%(a)s:1/v2.1/"; probe_enabled = false; drain_ports = [ %(n)d ]; },
  { name = "placement"; probe = "microversion"; url = "http://%(a)s:2/"; version_header = "X-V";
    probe_enabled = false; drain_ports = [ %(p)d ]; }
);
''' % {'a': ADDR, 'n': nova.port, 'p': placement.port}
    client = socket.create_connection((ADDR, placement.port))
    try:
        with Agent(addr=ADDR, extra_text=text) as agent:
            # 1. nova-api alone: drained, whatever placement does
            r = cli_expect(agent, '--maintenance', 'on', '--service', 'nova-api', '--wait', '5')
            check('drained' in r.stdout, 'nova-api drained while placement is busy', r.stdout)
            st = agent.status()
            check(svc(st, 'nova-api')['drained'] and not svc(st, 'placement')['drained']
                  and not st['node_state']['drained'], 'status: nova-api drained, placement and the node not',
                  (svc(st, 'nova-api')['drain'], svc(st, 'placement')['drain'], st['node_state']))
            # 2. placement alone: its connection holds it
            r = cli_expect(agent, '--maintenance', 'on', '--service', 'placement', '--wait', '1', want_rc=3)
            check('service stays in maintenance' in r.stderr, 'placement: not drained after 1 s', r.stderr)
            check(agent.reply(b'placement\n').startswith('up drain #maintenance: service placement'),
                  'placement\'s flag stays set')
            check(svc(agent.status(), 'placement')['drain']['connections'] == 1,
                  'placement counts the held connection', svc(agent.status(), 'placement')['drain'])
            # 3. the node
            cli_expect(agent, '--maintenance', 'off', '--service', 'nova-api')
            cli_expect(agent, '--maintenance', 'off', '--service', 'placement')
            r = cli_expect(agent, '--maintenance', 'on', '--wait', '1', want_rc=3)
            check('node stays in maintenance' in r.stderr, 'the node: not drained while placement is busy',
                  r.stderr)
            client.close()
            r = cli_expect(agent, '--maintenance', 'on', '--wait', '10')
            check('drained' in r.stdout, 'the node drained once placement\'s client left', r.stdout)
            st = agent.status()
            check(st['node_state']['drained'] and st['drained'] and all(s['drained'] for s in st['services']),
                  'status: the node and both services drained', st['node_state'])
    finally:
        client.close()
        nova.close()
        placement.close()


if __name__ == '__main__':
    main(run)
