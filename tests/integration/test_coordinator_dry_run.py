#!/usr/bin/python3
"""zdu-coordinator --dry-run runs every node's preflight and prints the steps it would take,
and changes nothing: no flag on any node, no journal (nor lock file) written, no upgrade run,
every server still UP. With one node unhealthy (its nova-api answers 500) the dry run still
checks the nodes before it, then exits 4 at that node's preflight, saying nothing changed."""
import os

from agentlib import check, main
from clusterlib import Cluster
from testutil import wait_until


def unchanged(cl, record, journal, what):
    for n in cl.nodes:
        st = n['agent'].status()
        check(not st['flag']['active'], '%s: %s has no flag' % (what, n['name']), st['flag'])
    check(not os.path.exists(journal), '%s: no journal written' % what)
    check(not os.path.exists(journal + '.lock'), '%s: no lock file written' % what)
    check(not os.path.exists(record), '%s: the upgrade command never ran' % what)


def run():
    with Cluster(nodes=3, lbs=2) as cl:
        mapfile, record = cl.upgrade_map()
        journal = os.path.join(cl.workdir, 'journal')
        plan = cl.write_plan(cl.upgrade_command(mapfile, '{server}'), expect_version='2.93')
        logs = {n['name']: n['agent'].log_size() for n in cl.nodes}

        r = cl.coordinator('--plan', plan, '--dry-run')
        print(r.stdout, r.stderr, sep='\n')
        check(r.returncode == 0, 'dry run exit 0', r.returncode)
        lines = r.stdout.splitlines()
        for name in ('node1', 'node2', 'node3'):
            pre = [x for x in lines if ' %s ' % name in x and 'preflight' in x and 'answer' in x]
            check(pre and 'server %s present' % name in pre[0],
                  '%s: its preflight result is printed' % name, pre)
            would = [x for x in lines if ' %s ' % name in x and 'would:' in x]
            check(would, '%s: the steps it would take are printed' % name, lines)
            for step in ('drain', 'wait until drained', 'run: ', 'wait until healthy at 2.93',
                         'undrain', 'wait until UP'):
                check(step in would[0], '%s: step "%s" listed' % (name, step), would[0])
        check('nothing was changed' in lines[-1], 'the last line says nothing was changed', lines[-1])
        unchanged(cl, record, journal, 'dry run')
        for n in cl.nodes:
            changes = n['agent'].reply_changes(logs[n['name']])
            check(not any('drain' in rep for _, rep in changes),
                  '%s never replied drain' % n['name'], changes)
        for lb in cl.lbs:
            for n in cl.nodes:
                check(lb.server(n['name'])['status'] == 'UP', '%s UP on %s' % (n['name'], lb.name))

        # node3 unhealthy: its preflight refuses; nodes 1 and 2 were still checked.
        cl.node('node3')['nova'].set_mode('http500')
        wait_until(lambda: cl.node('node3')['agent'].status()['health']['state'] not in
                   ('up', 'unchecked'), timeout=15, message='node3 agent sees nova-api failing')
        r = cl.coordinator('--plan', plan, '--dry-run')
        print(r.stdout, r.stderr, sep='\n')
        check(r.returncode == 4, 'dry run with an unhealthy node: exit 4', r.returncode)
        lines = r.stdout.splitlines()
        for name in ('node1', 'node2'):
            check(any(' %s ' % name in x and 'would:' in x for x in lines),
                  '%s checked before the failure' % name)
        fail = [x for x in lines if 'node3' in x and 'not healthy' in x]
        check(fail, 'it says node3 is not healthy', lines)
        check('dry run: nothing was changed' in r.stdout, 'it says nothing was changed')
        check(not any(' node3 ' in x and 'would:' in x for x in lines), 'no steps for node3')
        unchanged(cl, record, journal, 'failing dry run')


def fixed_bugs():
    """The dry run prints the upgrade command template as written ("... {server}"), not the
    command it would run for that node: expand() is only applied when the command runs."""
    with Cluster(nodes=2, lbs=1) as cl:
        mapfile, _ = cl.upgrade_map()
        plan = cl.write_plan(cl.upgrade_command(mapfile, '{server}'))
        r = cl.coordinator('--plan', plan, '--dry-run')
        print(r.stdout, r.stderr, sep='\n')
        check(r.returncode == 0, 'dry run exit 0', r.returncode)
        for name in ('node1', 'node2'):
            would = [x for x in r.stdout.splitlines() if ' %s ' % name in x and 'would:' in x]
            check(would and ('map.json %s,' % name) in would[0] and '{server}' not in would[0],
                  '%s: the command shown is the one it would run' % name, would)


def run_all():
    run()
    fixed_bugs()


if __name__ == '__main__':
    main(run_all)
