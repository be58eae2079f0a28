#!/usr/bin/python3
"""HAProxy keeps the state the agent last set while the agent is gone.

  * node drained by the agent, agent killed with SIGKILL -> agent_status L4CON and the server
    stays 'DRAIN (agent)' for several agent intervals;
  * agent restarted with the flag still present (stale control socket left by the kill) ->
    agent_status L7OK again and still drained; `--maintenance off` -> UP;
  * agent killed while the node is UP -> stays UP (L4CON) for several intervals; restarted
    -> L7OK, UP.
"""

import os
import signal

from agentlib import Agent, check, check_holds, check_within, main
from haproxy import HAProxy
from testutil import HttpStub, tempdir

INTER_MS = 500
ADDR = '127.0.0.12'
HOLD_S = 4 * INTER_MS / 1000.0    # "several intervals"


def agent_status(row):
    # HAProxy prefixes '* ' while a check is in progress ('* L4CON').
    return row['agent_status'].lstrip('* ')


def gone(row):
    return agent_status(row) == 'L4CON'


def hold(lb, status, seconds, what):
    """The server keeps STATUS (and agent_status L4CON) for SECONDS, polled every 50 ms."""
    check_holds(lambda: lb.server_is('node1', lambda row: row['status'] == status and gone(row)),
                seconds, '%s: %r with agent_status L4CON for %.1fs' % (what, status, seconds),
                detail=lambda: lb.describe('node1'))


def run():
    work = tempdir('zdu-it-hagone-')
    nova = HttpStub(ADDR)
    agent = Agent(workdir=work, addr=ADDR)
    agent.start()
    servers = [dict(name='node1', addr=ADDR, port=nova.port, agent_port=agent.port, weight=100)]
    with HAProxy(work, servers=servers, agent_inter_ms=INTER_MS) as lb:
        check_within(lambda: lb.server_is('node1', {'status': 'UP', 'agent_status': 'L7OK'}), 15,
                     'UP with the agent answering', detail=lambda: lb.describe('node1'))

        # --- drained, then the agent dies
        r = agent.cli('--maintenance', 'on', '--reason', 'upgrade')
        check(r.returncode == 0, 'maintenance on', r.stderr)
        check_within(lambda: lb.server_is('node1', 'DRAIN (agent)'), 5, 'DRAIN (agent)',
                     detail=lambda: lb.describe('node1'))
        rc = agent.kill()
        check(rc == -signal.SIGKILL, 'agent killed with SIGKILL', rc)
        lb.wait_server('node1', gone, timeout=5)
        hold(lb, 'DRAIN (agent)', HOLD_S, 'drained node, agent gone')

        # --- restart with the flag present: a stale socket is left by the kill
        check(os.path.exists(agent.sock_path), 'kill left the control socket behind')
        agent.start()
        check(agent.reply() == 'up drain #maintenance: upgrade', 'restarted agent replies drain',
              agent.reply())
        row = lb.wait_server('node1', {'agent_status': 'L7OK'}, timeout=5)
        check(row['status'] == 'DRAIN (agent)', 'still DRAIN (agent) once the agent answers again',
              row['status'])
        check('maintenance: upgrade' in row['last_agt'], 'last_agt from the restarted agent',
              row['last_agt'])
        # and it stays so over the next replies
        check_holds(lambda: lb.server('node1')['status'] == 'DRAIN (agent)', 3 * INTER_MS / 1000.0,
                    'stays drained for 3 intervals after the restart',
                    detail=lambda: lb.describe('node1'))
        r = agent.cli('--maintenance', 'off')
        check(r.returncode == 0, 'maintenance off', r.stderr)
        check_within(lambda: lb.server_is('node1', {'status': 'UP', 'weight': '100'}), 5,
                     'UP, weight 100 after maintenance off', detail=lambda: lb.describe('node1'))

        # --- killed while UP
        agent.kill()
        lb.wait_server('node1', gone, timeout=5)
        hold(lb, 'UP', HOLD_S, 'ready node, agent gone')
        agent.start()
        row = lb.wait_server('node1', {'status': 'UP', 'agent_status': 'L7OK'}, timeout=5)
        check(row['weight'] == '100', 'agent back: UP, L7OK, weight 100', row['weight'])
    rc = agent.stop()
    check(rc == 0, 'agent exits 0 on SIGTERM', rc)
    nova.close()


if __name__ == '__main__':
    main(run)
