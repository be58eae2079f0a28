#!/usr/bin/python3
"""A real HAProxy 2.6 follows the agent's maintenance flag.

Backend server `weight 100 check agent-check agent-port P agent-inter 500ms`, an HttpStub as
the server (so `check` passes), zdu-agent answering on the server's address:
  * `zdu-agent --maintenance on --reason upgrade` -> 'DRAIN (agent)' within two agent
    intervals (measured from the CLI call), last_agt carries the reason;
  * `--maintenance off` -> UP, weight 100;
  * `--maintenance on --mode maint` -> MAINT; off again -> UP.
"""

import random
import time

from agentlib import Agent, check, check_within, main
from haproxy import HAProxy
from testutil import HttpStub, tempdir

INTER_MS = 500
ADDR = '127.0.0.11'
# Two agent intervals, plus slack for a CLI start and a loaded 2-core machine.
LIMIT_S = 2 * INTER_MS / 1000.0 + 0.5


def timed_cli(lb, agent, args, want, what):
    # Not an assertion: a random phase against HAProxy's probe timer, so that the
    # measured latencies sample the whole 0..agent-inter range.
    time.sleep(random.uniform(0, INTER_MS / 1000.0))
    t0 = time.monotonic()
    r = agent.cli(*args)
    t_cli = time.monotonic() - t0
    check(r.returncode == 0, '%s: CLI exit 0' % what, (r.returncode, r.stdout, r.stderr))
    row = lb.wait_server('node1', want, timeout=10, interval=0.01)
    dt = time.monotonic() - t0
    print('timing: %s: HAProxy shows %r %.0f ms after the CLI call (CLI took %.0f ms; limit %.0f ms)'
          % (what, row['status'], dt * 1000, t_cli * 1000, LIMIT_S * 1000), flush=True)
    check(dt <= LIMIT_S, '%s within two agent intervals (+slack)' % what, '%.3fs' % dt)
    return row


def run():
    work = tempdir('zdu-it-hadrain-')
    nova = HttpStub(ADDR)
    with Agent(workdir=work, addr=ADDR) as agent:
        servers = [dict(name='node1', addr=ADDR, port=nova.port, agent_port=agent.port,
                        weight=100)]
        with HAProxy(work, servers=servers, agent_inter_ms=INTER_MS) as lb:
            row = lb.wait_server('node1', {'status': 'UP', 'agent_status': 'L7OK'}, timeout=15)
            check(row['weight'] == '100', 'UP with weight 100 before maintenance', row['weight'])

            for i in range(3):
                row = timed_cli(lb, agent, ['--maintenance', 'on', '--reason', 'upgrade'],
                                'DRAIN (agent)', 'drain #%d' % (i + 1))
                check('maintenance: upgrade' in row['last_agt'],
                      'last_agt shows the reason', row['last_agt'])
                srv = [s for s in lb.servers_state() if s['srv_name'] == 'node1'][0]
                check(int(srv['srv_admin_state']) & 8, 'srv_admin_state has the drain bit (8)',
                      srv['srv_admin_state'])
                row = timed_cli(lb, agent, ['--maintenance', 'off'], 'UP', 'undrain #%d' % (i + 1))
                check_within(lambda: lb.server_is('node1', {'status': 'UP', 'weight': '100'}), 5,
                             'UP again with weight 100', detail=lambda: lb.describe('node1'))

            row = timed_cli(lb, agent, ['--maintenance', 'on', '--mode', 'maint', '--reason',
                                        'hardware'], 'MAINT', 'maint')
            check(row['status'] == 'MAINT', 'status MAINT', row['status'])
            check('hardware' in row['last_agt'], 'last_agt shows the maint reason', row['last_agt'])
            # Leaving MAINT needs the regular check to pass again ('UP 1/3' counts as UP).
            r = agent.cli('--maintenance', 'off')
            check(r.returncode == 0, 'maintenance off after maint', r.stderr)
            check_within(lambda: lb.server_is('node1', {'status': 'UP', 'weight': '100'}), 10,
                         'back to UP, weight 100 after maint', detail=lambda: lb.describe('node1'))
        rc = agent.stop()
        check(rc == 0, 'agent exits 0 on SIGTERM', rc)
    nova.close()


if __name__ == '__main__':
    main(run)
