#!/usr/bin/python3
"""strategy = "cutover", the switch itself, seen from the load balancers: 4 nodes (first group
node1, node2) behind 2 HAProxy. A thread samples both load balancers every ~20 ms during the
whole rollout. At the switch the first group becomes UP and the old group DRAIN on both, in one
step (at most one sample in between); before it the first group never serves once drained and
the old group always does; there is never a sample with no server UP; after it no old-group
server is UP again until its fake nova-api reports the new version (2.93). The coordinator is
stopped (SIGSTOP) the moment it reports the switch done: the journal ends with
("", "switched"), the first group's agents have no flag and the old group's are in drain mode,
and the load balancers still agree with them a few agent intervals later.

Fixed bug, kept as a regression check (fixed_bugs): a first-group server whose HAProxy check
fails on lb1 (its agent says healthy, HAProxy's own check does not pass: `set server
nova-api/node1 check-port DEAD` while the coordinator is frozen right after node1 is healthy).
The switch must not leave lb1 with no server UP: it refuses before the runtime request, or
undoes it when it cannot be confirmed, and never claims "the old group still serves" when the
old group was drained.

The helpers (Coord, LBSampler, check_switch_samples...) are in tests/lib/cutoverlib.py."""
import json
import re
import signal
import time

from agentlib import check, main
from clusterlib import Cluster
from cutoverlib import (Coord, LBSampler, check_switch_samples, cutover_extra, event_epoch, fmt,
                        is_drain, is_switch, is_up, journal_steps)
from testutil import free_port

NEW = ['node1', 'node2']
OLD = ['node3', 'node4']


def run():
    with Cluster(nodes=4, lbs=2) as cl:
        mapfile, record = cl.upgrade_map()
        plan = cl.write_plan(cl.upgrade_command(mapfile), expect_version='2.93',
                             timeouts=dict(request_ms=10000), extra=cutover_extra(NEW))
        sampler = LBSampler(cl, read_first=OLD)
        sampler.start()
        time.sleep(0.3)
        co = Coord(cl, '--plan', plan)

        # The moment the switch is reported done: freeze the coordinator and look.
        co.wait_event(is_switch('switch done'), timeout=90)
        co.signal(signal.SIGSTOP)
        try:
            steps = journal_steps(cl)
            i_sw = steps.index(('', 'switched'))
            check(not [s for s in steps[i_sw + 1:] if s[0] != 'node3' or s[1] not in ('flagged', 'drained')],
                  'journal: ("", "switched") is the last point (at most node3 flagged after it)',
                  steps[i_sw:])
            for n in NEW:
                st = cl.node(n)['agent'].status()
                check(not st['flag']['active'] and st['reply'].startswith('up ready'),
                      '%s (new group) has no flag at the switch: %s' % (n, st['reply']), st['flag'])
            for n in OLD:
                st = cl.node(n)['agent'].status()
                check(st['flag']['active'] and st['flag']['mode'] == 'drain'
                      and st['reply'].startswith('up drain'),
                      '%s (old group) has flag drain at the switch: %s' % (n, st['reply']), st['flag'])
            # For three agent intervals the load balancers keep agreeing with the agents,
            # sampled all along: every sample shows the first group UP and the rest DRAIN,
            # and by the end each server's last agent reply is the agent's new one (the
            # lb-managed one may still show until its next check; HAProxy 3.0 shows
            # last_agt empty while a check is in flight, so the last one seen counts).
            seen = {}
            end = time.monotonic() + 3 * cl.agent_inter_ms / 1000.0 + 0.2
            while time.monotonic() < end:
                for lb in cl.lbs:
                    for n in NEW + OLD:
                        row = lb.server(n)
                        up = n in NEW
                        check(is_up(row['status']) if up else is_drain(row['status']),
                              '%s: %s stays %s' % (lb.name, n, 'UP' if up else 'DRAIN'), row['status'])
                        if row['last_agt']:
                            seen[(lb.name, n)] = row['last_agt']
                time.sleep(0.05)
            for lb in cl.lbs:
                for n in NEW:
                    agt = seen.get((lb.name, n), '')
                    check(agt and 'lb-managed' not in agt,
                          '%s: %s UP, a plain agent reply applied (%s)' % (lb.name, n, agt))
                for n in OLD:
                    agt = seen.get((lb.name, n), '')
                    check('maintenance' in agt,
                          '%s: %s DRAIN, a drain agent reply applied (%s)' % (lb.name, n, agt))
        finally:
            co.signal(signal.SIGCONT)

        rc = co.wait(timeout=120)
        time.sleep(0.2)
        sampler.stop()
        print(co.text()[-5000:])
        check(rc == 0, 'coordinator exit 0', rc)
        start = co.find(is_switch('on every load balancer: set server', 'start'))
        applied = co.find(is_switch('runtime switch applied'))
        check(start and applied, 'the runtime request is reported')
        print('switch window:', applied['message'])
        cmds = [c.strip() for c in start['message'].split(':', 1)[1].split(';')]
        check(cmds == ['set server nova-api/%s state ready' % n for n in NEW]
              + ['set server nova-api/%s state drain' % n for n in OLD],
              'one request: the new group ready first, then the old group drain', cmds)
        rtt = [float(x) for x in re.findall(r'([0-9.]+) ms', applied['message'])]
        check(len(rtt) == 2, 'a round trip per load balancer: %s ms' % rtt)
        check(not sampler.errors or len(sampler.errors) < len(sampler.samples) / 20,
              'sampling mostly worked (%d samples, %d errors)' % (len(sampler.samples), len(sampler.errors)),
              sampler.errors[:3])

        t_start = event_epoch(start)
        t_sw = {}
        for lb in cl.lbs:
            i = check_switch_samples(sampler, lb.name, NEW, OLD, t_start)
            t_sw[lb.name] = sampler.of(lb.name)[i]['t1']
        spread = abs(t_sw['lb1'] - t_sw['lb2'])
        check(spread < 1.0, 'both load balancers switched together (first switched samples %.0f ms apart)'
              % (spread * 1000))

        seen = [json.loads(line)['node'] for line in open(record)]
        check(seen == ['node1', 'node2', 'node3', 'node4'], 'each node upgraded once, first group first',
              seen)
        cl.wait_all_up(timeout=10)
        for n in cl.nodes:
            st = n['agent'].status()
            check(st['health']['version'] == '2.93' and not st['flag']['active'],
                  '%s at 2.93 without a flag' % n['name'], (st['health'], st['flag']))
        check(journal_steps(cl)[-1] == ('', 'end'), 'journal ends the rollout')


def fixed_bugs():
    new, old = ['node1'], ['node2', 'node3']
    with Cluster(nodes=3, lbs=2) as cl:
        mapfile, record = cl.upgrade_map()
        plan = cl.write_plan(cl.upgrade_command(mapfile), expect_version='2.93',
                             extra='strategy = "cutover"; cutover: { switch_ms = 3000; };')
        sampler = LBSampler(cl, read_first=old)
        sampler.start()
        co = Coord(cl, '--plan', plan)
        co.wait_event(lambda e: e['node'] == 'node1' and e['step'] == 'wait-healthy' and e['event'] == 'ok',
                      timeout=90)
        co.signal(signal.SIGSTOP)
        try:
            cl.lbs[0].admin('set server nova-api/node1 check-port %d' % free_port('127.0.0.11'))
            cl.lbs[0].wait_server('node1', lambda row: row['status'].startswith('DOWN'), timeout=15)
        finally:
            co.signal(signal.SIGCONT)
        rc = co.wait(timeout=120)
        print(co.text()[-3000:])
        time.sleep(1.0)
        sampler.stop()
        check(rc != 0, 'the switch cannot complete with node1 DOWN on lb1 (exit %d)' % rc)
        nxt = [e['message'] for e in co.events if e['event'] == 'next']
        now = {lb.name: {n: lb.server(n)['status'] for n in new + old} for lb in cl.lbs}
        print('after the coordinator:', now)
        if any('old group still serves' in m for m in nxt):
            check(all(is_up(now[lb][n]) for lb in now for n in old),
                  'it says the old group still serves: it does', (nxt, now))
        for lb in cl.lbs:
            empty = [fmt(x) for x in sampler.of(lb.name) if not any(is_up(v) for v in x['st'].values())]
            check(not empty, '%s: never a sample with no server UP (%d without)' % (lb.name, len(empty)),
                  empty[:3])


def run_all():
    run()
    fixed_bugs()


if __name__ == '__main__':
    main(run_all)
