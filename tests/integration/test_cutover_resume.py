#!/usr/bin/python3
"""strategy = "cutover": a failure in each phase stops safely with a group serving, and
--resume completes the cutover. A sampler watches both load balancers throughout each case:
never a sample with no server UP, the switch happens once, and no old-group server is UP after
it before its upgrade.

(a) phase 1 (4 nodes, first group node1, node2): node2's upgrade command fails -> exit 1; the
    old group (node3, node4) serves, node2 stays drained with its flag, node1 (upgraded) stays
    out of service. The map fixed, --resume skips node1 and completes: node1's upgrade never
    runs twice.
(b) phase 2 (3 nodes, first group node1): node2's upgrade (old group) fails -> exit 1; the new
    group (node1) serves alone, node2 and node3 DRAIN, node2 with its flag. --resume completes.
(c) during the switch: (1) SIGTERM the moment the coordinator logs the switch's start -> exit
    non-zero, one whole group UP on each load balancer, still so a few agent intervals later;
    --resume completes. (2) cutover.switch_ms = 100 with agent-inter 1 s: the wait for lb-mode
    replies times out -> exit 3, the old group serves, the runtime switch was never sent; with
    switch_ms back to 30 s (not part of the plan's identity) --resume completes."""
import collections
import json
import signal
import time

from agentlib import check, main
from clusterlib import Cluster
from cutoverlib import (Coord, LBSampler, check_switch_samples, cutover_extra, event_epoch,
                        is_drain, is_switch, is_up, journal_steps)


def records(record):
    return [json.loads(line)['node'] for line in open(record)]


def states(cl):
    return {lb.name: {n['name']: lb.server(n['name'])['status'] for n in cl.nodes} for lb in cl.lbs}


def stays(cl, what, pred, seconds=None):
    """PRED(states) holds now and after several agent intervals."""
    seconds = seconds if seconds is not None else 3 * cl.agent_inter_ms / 1000.0 + 0.2
    s = states(cl)
    check(pred(s), what, s)
    time.sleep(seconds)
    s = states(cl)
    check(pred(s), what + ', %.1f s later' % seconds, s)


def group_up(s, group):
    return all(is_up(st[n]) for st in s.values() for n in group)


def group_drain(s, group):
    return all(is_drain(st[n]) for st in s.values() for n in group)


def finish(cl, sampler, co_first, new, old, record, runs):
    sampler.stop()
    sw = [e for co in co_first for e in co.events if is_switch('runtime switch applied')(e)]
    starts = [e for co in co_first for e in co.events
              if is_switch('on every load balancer: set server', 'start')(e)]
    check(starts, 'a runtime switch was sent')
    for lb in cl.lbs:
        check_switch_samples(sampler, lb.name, new, old, event_epoch(starts[0]))
    print('switch:', [e['message'] for e in sw])
    count = collections.Counter(records(record))
    check(all(count[n] == runs.get(n, 1) for n in [x['name'] for x in cl.nodes]),
          'upgrade commands run: %s (expected %s, 1 for the others)' % (dict(count), runs))
    cl.wait_all_up(timeout=10)
    for n in cl.nodes:
        st = n['agent'].status()
        check(st['health']['version'] == '2.93' and not st['flag']['active'],
              '%s at 2.93 without a flag' % n['name'], (st['health'], st['flag']))
    steps = journal_steps(cl)
    check(steps[-1] == ('', 'end') and steps.count(('', 'switched')) == 1,
          'journal: switched once, then the end', steps)


def resume(cl, plan):
    co = Coord(cl, '--plan', plan, '--resume')
    rc = co.wait(timeout=120)
    print(co.text()[-2500:])
    check(rc == 0, '--resume completes', rc)
    return co


def case_phase1():
    print('--- (a) phase 1: a first-group upgrade fails')
    new, old = ['node1', 'node2'], ['node3', 'node4']
    with Cluster(nodes=4, lbs=2) as cl:
        mapfile, record = cl.upgrade_map(fail=['node2'])
        plan = cl.write_plan(cl.upgrade_command(mapfile), expect_version='2.93', extra=cutover_extra(new))
        sampler = LBSampler(cl, read_first=old)
        sampler.start()
        co = Coord(cl, '--plan', plan)
        rc = co.wait(timeout=120)
        print(co.text()[-2500:])
        check(rc == 1, 'exit 1 (a step failed)', rc)
        fail = co.find(lambda e: e['event'] == 'fail')
        check(fail['node'] == 'node2' and fail['step'] == 'upgrade' and 'status 7' in fail['message'],
              'node2\'s upgrade failed: %s' % fail['message'])
        check(records(record) == ['node1', 'node2'], 'node1 then node2 ran', records(record))
        stays(cl, 'the old group serves, node1 and node2 DRAIN',
              lambda s: group_up(s, old) and group_drain(s, new))
        st = cl.node('node2')['agent'].status()
        check(st['flag']['mode'] == 'drain' and st['health']['version'] == '2.90',
              'node2 keeps its drain flag at 2.90', (st['flag'], st['health']))
        steps = journal_steps(cl)
        check(('node1', 'healthy') in steps and ('node2', 'drained') in steps
              and ('node2', 'upgraded') not in steps and ('', 'switched') not in steps,
              'journal: node1 healthy, node2 drained not upgraded, no switch', steps)

        cl.upgrade_map()
        co2 = resume(cl, plan)
        skip = co2.find(lambda e: e['node'] == 'node1' and e['step'] == 'skip')
        check(skip is not None, 'node1 skipped on resume: %s' % (skip and skip['message']))
        finish(cl, sampler, [co, co2], new, old, record, {'node2': 2})


def case_phase2():
    print('--- (b) phase 2: an old-group upgrade fails')
    new, old = ['node1'], ['node2', 'node3']
    with Cluster(nodes=3, lbs=2) as cl:
        mapfile, record = cl.upgrade_map(fail=['node2'])
        plan = cl.write_plan(cl.upgrade_command(mapfile), expect_version='2.93',
                             extra='strategy = "cutover";')
        sampler = LBSampler(cl, read_first=old)
        sampler.start()
        co = Coord(cl, '--plan', plan)
        rc = co.wait(timeout=120)
        print(co.text()[-2500:])
        check(rc == 1, 'exit 1 (a step failed)', rc)
        fail = co.find(lambda e: e['event'] == 'fail')
        check(fail['node'] == 'node2' and fail['step'] == 'upgrade', 'node2\'s upgrade failed: %s'
              % fail['message'])
        check(('', 'switched') in journal_steps(cl), 'journal: switched before the failure')
        stays(cl, 'the new group serves (node1 UP), node2 and node3 DRAIN',
              lambda s: group_up(s, new) and group_drain(s, old))
        st = cl.node('node2')['agent'].status()
        check(st['flag']['mode'] == 'drain' and st['health']['version'] == '2.90',
              'node2 keeps its drain flag at 2.90', (st['flag'], st['health']))
        st = cl.node('node3')['agent'].status()
        check(st['flag']['mode'] == 'drain', 'node3 keeps the drain flag of the switch', st['flag'])

        cl.upgrade_map()
        co2 = resume(cl, plan)
        finish(cl, sampler, [co, co2], new, old, record, {'node2': 2})


def one_group_serves(s, new, old):
    return all((all(is_up(st[n]) for n in old) and all(is_drain(st[n]) for n in new)) or
               (all(is_up(st[n]) for n in new) and all(is_drain(st[n]) for n in old))
               for st in s.values())


def case_sigterm():
    print('--- (c1) SIGTERM when the switch starts')
    new, old = ['node1'], ['node2', 'node3']
    with Cluster(nodes=3, lbs=2) as cl:
        mapfile, record = cl.upgrade_map()
        plan = cl.write_plan(cl.upgrade_command(mapfile), expect_version='2.93',
                             extra='strategy = "cutover";')
        sampler = LBSampler(cl, read_first=old)
        sampler.start()
        co = Coord(cl, '--plan', plan)
        co.wait_event(is_switch('switching traffic', 'start'), timeout=90)
        co.signal(signal.SIGTERM)
        rc = co.wait(timeout=60)
        print(co.text()[-2500:])
        check(rc != 0, 'exit non-zero after SIGTERM (%d)' % rc)
        check(co.find(lambda e: e['event'] == 'fail' and 'signal 15' in e['message']) is not None,
              'it says it was interrupted by signal 15')
        stays(cl, 'one whole group UP and the other DRAIN on each load balancer',
              lambda s: one_group_serves(s, new, old))
        co2 = resume(cl, plan)
        finish(cl, sampler, [co, co2], new, old, record, {})


def case_switch_timeout():
    print('--- (c2) the wait for lb-mode replies times out (cutover.switch_ms = 100)')
    new, old = ['node1'], ['node2', 'node3']
    with Cluster(nodes=3, lbs=2, agent_inter_ms=1000) as cl:
        mapfile, record = cl.upgrade_map()
        plan = cl.write_plan(cl.upgrade_command(mapfile), expect_version='2.93',
                             extra='strategy = "cutover"; cutover: { switch_ms = 100; };')
        sampler = LBSampler(cl, read_first=old)
        sampler.start()
        co = Coord(cl, '--plan', plan)
        rc = co.wait(timeout=120)
        print(co.text()[-2500:])
        check(rc == 3, 'exit 3 (a wait timed out)', rc)
        fail = co.find(lambda e: e['event'] == 'fail')
        check(fail['step'] == 'switch' and 'lb mode' in fail['message'],
              'the switch timed out waiting for lb-mode replies: %s' % fail['message'])
        check(co.find(is_switch('on every load balancer: set server', 'start')) is None,
              'no runtime switch was sent')
        nxt = [e for e in co.events if e['event'] == 'next']
        check(nxt and 'old group still serves' in nxt[-1]['message'], 'it says the old group serves',
              nxt[-1:])
        for n in cl.nodes:
            st = n['agent'].status()
            check(st['flag']['mode'] == 'lb', '%s left in flag mode lb' % n['name'], st['flag'])
        stays(cl, 'the old group serves, node1 DRAIN',
              lambda s: group_up(s, old) and group_drain(s, new), seconds=2.5)
        plan = cl.write_plan(cl.upgrade_command(mapfile), expect_version='2.93',
                             extra='strategy = "cutover"; cutover: { switch_ms = 30000; };')
        co2 = resume(cl, plan)
        finish(cl, sampler, [co, co2], new, old, record, {})


def run():
    case_phase1()
    case_phase2()
    case_sigterm()
    case_switch_timeout()


if __name__ == '__main__':
    main(run)
