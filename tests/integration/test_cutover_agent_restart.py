#!/usr/bin/python3
"""An agent restarted in the middle of a cutover switch does not undo it.

By hand first (2 nodes, 2 HAProxy): node1's agent in flag mode lb (`zdu-agent --maintenance on
--mode lb`), then `set server nova-api/node1 state drain` on both load balancers, then the agent
restarted (SIGTERM, start with the same config): node1 stays DRAIN on both in every sample
while the old agent goes and several replies of the new one are applied. The same with
`state ready` for node2, drained by its flag before it went to mode lb: it stays UP.

Then the real flow (3 nodes, first group node1): the moment the coordinator reports the runtime
switch applied, it is frozen (SIGSTOP), node3's agent (old group) is killed with SIGKILL, the
coordinator continues and the agent is started again (the coordinator may already have sent
node3 its final drain flag: the restarted agent then has mode drain instead of lb; both agree
with the load balancers). The load balancers keep the switched state (node1 UP, node2 and node3 DRAIN); the coordinator either completes or fails safely
(exit 1, the first group serving, kept for several agent intervals after the restart) and
--resume completes. No sample of either load balancer ever has no server UP."""
import signal
import threading
import time

from agentlib import check, main
from clusterlib import Cluster
from cutoverlib import (Coord, LBSampler, check_switch_samples, event_epoch, is_drain, is_switch,
                        is_up, journal_steps)
from testutil import wait_until


class Watch(threading.Thread):
    """Samples one server's status on every load balancer every ~20 ms."""

    def __init__(self, cl, server):
        super().__init__(daemon=True)
        self.cl, self.server = cl, server
        self.seen = []
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            for lb in self.cl.lbs:
                try:
                    self.seen.append((time.time(), lb.name, lb.server(self.server)['status']))
                except (OSError, KeyError, ValueError):
                    pass
            self._halt.wait(0.02)

    def stop(self):
        self._halt.set()
        self.join(10)
        return self.seen


def lb_managed_everywhere(cl, server):
    wait_until(lambda: all('lb-managed' in lb.server(server)['last_agt'] for lb in cl.lbs),
               timeout=10, message='%s: an lb-mode reply applied on every load balancer' % server)


def restart_keeps(cl, name, want, is_want):
    """Restart NAME's agent while watching its server: it stays WANT on every LB."""
    agent = cl.node(name)['agent']
    w = Watch(cl, name)
    w.start()
    time.sleep(0.2)
    old_pid = agent.proc.pid
    agent.stop()
    time.sleep(2 * cl.agent_inter_ms / 1000.0)   # HAProxy meets a closed port (L4CON)
    agent.start()
    check(agent.proc.pid != old_pid, '%s: agent restarted' % name)
    st = agent.status()
    check(st['flag']['mode'] == 'lb', '%s: the restarted agent reads flag mode lb' % name, st['flag'])
    rep = agent.reply()
    check('ready' not in rep.split('#')[0] and 'drain' not in rep.split('#')[0]
          and 'lb-managed' in rep, '%s: its reply has no administrative token: %r' % (name, rep))
    # Several replies of the new process applied by every load balancer.
    t_start = time.time()
    wait_until(lambda: agent.status()['connections']['accepted'] >= 4 * len(cl.lbs), timeout=10,
               message='%s: several agent checks answered by the new agent' % name)
    wait_until(lambda: all(lb.server(name)['agent_status'] == 'L7OK' for lb in cl.lbs), timeout=5)
    time.sleep(2 * cl.agent_inter_ms / 1000.0)
    seen = w.stop()
    check(len([s for s in seen if s[0] > t_start]) > 10, '%s: sampled after the restart' % name)
    bad = [s for s in seen if not is_want(s[2])]
    check(not bad, '%s stayed %s on every load balancer through the restart (%d samples)'
          % (name, want, len(seen)), bad[:5])


def by_hand():
    with Cluster(nodes=2, lbs=2) as cl:
        a1, a2 = cl.node('node1')['agent'], cl.node('node2')['agent']
        # node1: flag lb, then the load balancers drain it.
        r = a1.cli('--maintenance', 'on', '--mode', 'lb', '--reason', 'test: the LB decides')
        check(r.returncode == 0, 'node1: flag mode lb set', r)
        lb_managed_everywhere(cl, 'node1')
        for lb in cl.lbs:
            lb.set_state('node1', 'drain')
            lb.wait_server('node1', is_drain_row, timeout=5)
        time.sleep(2 * cl.agent_inter_ms / 1000.0)
        check(all(is_drain(lb.server('node1')['status']) for lb in cl.lbs),
              'node1: lb-mode replies leave the runtime drain alone')
        restart_keeps(cl, 'node1', 'DRAIN', is_drain)

        # node2: drained by its flag, then flag lb, then the load balancers make it ready.
        r = a2.cli('--maintenance', 'on', '--reason', 'test: upgrade')
        check(r.returncode == 0, 'node2: flag drain set', r)
        for lb in cl.lbs:
            lb.wait_server('node2', is_drain_row, timeout=5)
        r = a2.cli('--maintenance', 'on', '--mode', 'lb', '--reason', 'test: the LB decides')
        check(r.returncode == 0, 'node2: flag mode lb set', r)
        lb_managed_everywhere(cl, 'node2')
        check(all(is_drain(lb.server('node2')['status']) for lb in cl.lbs),
              'node2: still DRAIN in mode lb (the reply does not make it ready)')
        for lb in cl.lbs:
            lb.set_state('node2', 'ready')
            lb.wait_server('node2', 'UP', timeout=5)
        time.sleep(2 * cl.agent_inter_ms / 1000.0)
        check(all(is_up(lb.server('node2')['status']) for lb in cl.lbs),
              'node2: lb-mode replies leave the runtime ready alone')
        restart_keeps(cl, 'node2', 'UP', is_up)


def is_drain_row(row):
    return is_drain(row['status'])


def switched_state(cl, new, old):
    return all(is_up(lb.server(n)['status']) for lb in cl.lbs for n in new) and \
        all(is_drain(lb.server(n)['status']) for lb in cl.lbs for n in old)


def with_coordinator():
    new, old = ['node1'], ['node2', 'node3']
    with Cluster(nodes=3, lbs=2) as cl:
        mapfile, record = cl.upgrade_map()
        plan = cl.write_plan(cl.upgrade_command(mapfile), expect_version='2.93',
                             extra='strategy = "cutover";')
        sampler = LBSampler(cl, read_first=old)
        sampler.start()
        time.sleep(0.2)
        victim = cl.node('node3')['agent']
        co = Coord(cl, '--plan', plan)
        applied = co.wait_event(is_switch('runtime switch applied'), timeout=90)
        co.signal(signal.SIGSTOP)
        try:
            victim.kill()
        finally:
            co.signal(signal.SIGCONT)
        print('switch:', applied['message'])
        time.sleep(0.5)
        victim.start()
        rc = co.wait(timeout=120)
        print(co.text()[-3000:])
        check(rc in (0, 1), 'coordinator completed or stopped safely (exit %d)' % rc)
        if rc == 1:
            fails = [e for e in co.events if e['event'] == 'fail']
            check(fails and fails[0]['step'] == 'switch' and 'node3' in fails[0]['message'],
                  'it failed in the switch, on node3: %s' % (fails and fails[0]['message']))
            nxt = [e for e in co.events if e['event'] == 'next']
            check(nxt and 'first group serves' in nxt[-1]['message'] and '--resume' in nxt[-1]['message'],
                  'it says the first group serves and to --resume', nxt[-1:])
            check(('', 'switched') not in journal_steps(cl), 'journal: not switched')
            # lb, or drain when the coordinator's request got there just before the kill (the
            # agent wrote the flag, then died before answering): either agrees with the LBs.
            st = victim.status()
            check(st['flag']['mode'] in ('lb', 'drain'), 'node3 restarted with flag mode %s'
                  % st['flag']['mode'], st['flag'])
            t_restart = time.time()
            wait_until(lambda: victim.status()['connections']['accepted'] >= 4 * len(cl.lbs),
                       timeout=10, message='node3: the restarted agent answers the LBs')
            time.sleep(3 * cl.agent_inter_ms / 1000.0)
            check(switched_state(cl, new, old), 'the load balancers keep the switch: node1 UP, '
                  'node2 and node3 DRAIN, %.1f s after node3\'s agent came back' % (time.time() - t_restart))
            r = Coord(cl, '--plan', plan, '--resume')
            rc2 = r.wait(timeout=120)
            print(r.text()[-3000:])
            check(rc2 == 0, '--resume completes', rc2)
        else:
            check(journal_steps(cl)[-1] == ('', 'end'), 'journal ends the rollout')
        time.sleep(0.2)
        sampler.stop()
        sw_start = event_epoch(co.find(is_switch('on every load balancer: set server', 'start')))
        for lb in cl.lbs:
            check_switch_samples(sampler, lb.name, new, old, sw_start)
        seen = [line for line in open(record)]
        check(len(seen) == 3, 'each node upgraded once', seen)
        cl.wait_all_up(timeout=10)
        for n in cl.nodes:
            st = n['agent'].status()
            check(st['health']['version'] == '2.93' and not st['flag']['active'],
                  '%s at 2.93 without a flag' % n['name'], (st['health'], st['flag']))


def run():
    by_hand()
    with_coordinator()


if __name__ == '__main__':
    main(run)
