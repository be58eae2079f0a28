#!/usr/bin/python3
"""strategy = "cutover" needs each group to serve alone: a plan where a group is smaller than
min_ready is refused when it is loaded (exit 2, FILE:LINE pointing at min_ready, naming both
group sizes), with --check and without, before anything is touched (no journal, no flag, every
server still UP). The same for cutover.first_group naming an unknown node (FILE:LINE of the
name) or every node. Groups that hold min_ready pass --check, and the same min_ready with
rolling passes too.

At run time: 4 nodes, groups of 2, min_ready 2, but node4 (old group) already drained by its
flag: the old group cannot hold min_ready once the first group is out, so node2's preflight
waits for capacity (node1 is out already: the rollout is under way) and, node4 staying out,
refuses after timeouts.capacity_ms (exit 4, naming min_ready) with at least min_ready servers
still UP."""
import os

from agentlib import check, main
from clusterlib import Cluster
from cutoverlib import cutover_extra, is_up


def line_of(path, text):
    for i, line in enumerate(open(path), 1):
        if text in line:
            return i
    raise AssertionError('%s not in %s' % (text, path))


def refused(cl, plan, what, needle_line, *words):
    for args in (('--check',), ()):
        r = cl.coordinator('--plan', plan, *args, timeout=60)
        print(r.stdout, r.stderr, sep='\n')
        check(r.returncode == 2, '%s%s: exit 2 (plan error)' % (what, ' --check' if args else ''),
              r.returncode)
        want = '%s:%d: ' % (plan, line_of(plan, needle_line))
        check(want in r.stderr, '%s: the error says %s' % (what, want), r.stderr)
        for w in words:
            check(w in r.stderr, '%s: the error names %r' % (what, w), r.stderr)
    check(not os.path.exists(os.path.join(cl.workdir, 'journal')), '%s: no journal written' % what)


def untouched(cl):
    for n in cl.nodes:
        check(not n['agent'].status()['flag']['active'], '%s has no flag' % n['name'])
    cl.wait_all_up(timeout=2)


def run():
    with Cluster(nodes=4, lbs=1) as cl:
        cmd = 'true'
        three = ['node1', 'node2', 'node3']
        plan = cl.write_plan(cmd, min_ready=2, nodes=three, extra='strategy = "cutover";')
        refused(cl, plan, '3 nodes, min_ready 2', 'min_ready = 2;', 'min_ready', 'groups of 1 and 2')

        plan = cl.write_plan(cmd, min_ready=2, extra=cutover_extra(['node1']))
        refused(cl, plan, 'first group of 1 of 4, min_ready 2', 'min_ready = 2;', 'groups of 1 and 3')

        plan = cl.write_plan(cmd, min_ready=2, extra=cutover_extra(['node1', 'node2', 'node3']))
        refused(cl, plan, 'first group of 3 of 4, min_ready 2', 'min_ready = 2;', 'groups of 3 and 1')

        plan = cl.write_plan(cmd, min_ready=1, extra='strategy = "cutover";\ncutover: {\n'
                             '  first_group = [ "node1",\n    "node9" ];\n};')
        refused(cl, plan, 'first_group naming node9', '"node9"', 'cutover.first_group',
                'no node named "node9"')

        plan = cl.write_plan(cmd, min_ready=1, extra=cutover_extra(['node1', 'node2', 'node3', 'node4']))
        refused(cl, plan, 'first_group naming every node', 'first_group', 'each group needs at least one')
        untouched(cl)

        plan = cl.write_plan(cmd, min_ready=2, extra=cutover_extra(['node1', 'node2']))
        r = cl.coordinator('--plan', plan, '--check')
        check(r.returncode == 0 and 'plan ok' in r.stdout, 'groups of 2 and 2 hold min_ready 2',
              (r.returncode, r.stdout, r.stderr))
        plan = cl.write_plan(cmd, min_ready=2, nodes=three, extra='strategy = "rolling";')
        r = cl.coordinator('--plan', plan, '--check')
        check(r.returncode == 0, 'rolling with 3 nodes and min_ready 2 is fine',
              (r.returncode, r.stdout, r.stderr))

        # At run time: node4 is already out, so the old group (node3, node4) cannot hold 2.
        r = cl.node('node4')['agent'].cli('--maintenance', 'on', '--reason', 'test: broken disk')
        check(r.returncode == 0, 'node4 drained by its flag', r)
        cl.lbs[0].wait_server('node4', lambda row: 'DRAIN' in row['status'], timeout=5)
        mapfile, record = cl.upgrade_map()
        plan = cl.write_plan(cl.upgrade_command(mapfile), min_ready=2, expect_version='2.93',
                             timeouts=dict(capacity_ms=1000), extra=cutover_extra(['node1', 'node2']))
        r = cl.coordinator('--plan', plan, timeout=120)
        print(r.stdout[-3000:], r.stderr, sep='\n')
        check(r.returncode == 4, 'exit 4 (a preflight refused)', r.returncode)
        fails = [line for line in r.stdout.splitlines() if 'min_ready is 2' in line]
        check(fails, 'the refusal names min_ready', r.stdout[-1500:])
        check(any(' node2 ' in line and 'capacity still short after 1.0 s' in line for line in fails),
              'node2 waited timeouts.capacity_ms before refusing', fails)
        up = [n['name'] for n in cl.nodes if is_up(cl.lbs[0].server(n['name'])['status'])]
        check(len(up) >= 2, 'at least min_ready servers still UP: %s' % up)


if __name__ == '__main__':
    main(run)
