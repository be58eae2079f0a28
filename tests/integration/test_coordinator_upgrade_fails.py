#!/usr/bin/python3
"""A failing upgrade command stops the rollout safely, and --resume continues from there.

fake_upgrade's map lists node2 in "fail": its upgrade exits 7. The coordinator exits 1 with
node1 done (flag cleared, UP, at the new version), node2 left drained on both load
balancers with its flag, node3 never touched (no flag ever, still UP, nothing in the
journal). A plain rerun is refused (the journal holds an unfinished rollout). With node2
taken out of "fail", --resume continues FROM node2: node1's upgrade does not run again (the
record file of fake_upgrade shows every run) and the rollout completes."""
import json
import os

from agentlib import check, main
from clusterlib import Cluster


def journal(cl):
    return [json.loads(line) for line in open(os.path.join(cl.workdir, 'journal')) if line.strip()]


def records(record):
    return [json.loads(line)['node'] for line in open(record)]


def run():
    with Cluster(nodes=3, lbs=2) as cl:
        mapfile, record = cl.upgrade_map(fail=['node2'])
        plan = cl.write_plan(cl.upgrade_command(mapfile), expect_version='2.93')
        n3_log = cl.node('node3')['agent'].log_size()

        r = cl.coordinator('--plan', plan)
        print(r.stdout, r.stderr, sep='\n')
        check(r.returncode == 1, 'coordinator exit 1 (a step failed)', r.returncode)
        fails = [line for line in r.stdout.splitlines() if 'exited with status' in line]
        check(fails and 'node2' in fails[0] and 'upgrade' in fails[0] and 'status 7' in fails[0],
              'it says node2\'s upgrade command exited with status 7', fails)
        check('simulated failure' in r.stdout, 'the command\'s stderr is shown')
        check('node2 stays in maintenance' in r.stdout and '--resume' in r.stdout,
              'it says node2 stays drained and how to continue', r.stdout)
        check(records(record) == ['node1', 'node2'], 'upgrades ran for node1 then node2 only',
              records(record))

        # node1 done
        st1 = cl.node('node1')['agent'].status()
        check(not st1['flag']['active'], 'node1 flag cleared', st1['flag'])
        check(st1['health']['version'] == '2.93', 'node1 at 2.93', st1['health'])
        for lb in cl.lbs:
            row = lb.server('node1')
            check(row['status'] == 'UP' and row['weight'] == '100', 'node1 UP weight 100 on %s'
                  % lb.name, row['status'])
        # node2 drained
        st2 = cl.node('node2')['agent'].status()
        check(st2['flag']['active'], 'node2 keeps its flag', st2['flag'])
        check(st2['health']['version'] == '2.90', 'node2 still at 2.90', st2['health'])
        for lb in cl.lbs:
            row = lb.server('node2')
            check('DRAIN' in row['status'], 'node2 DRAIN on %s' % lb.name, row['status'])
        # node3 untouched
        st3 = cl.node('node3')['agent'].status()
        check(not st3['flag']['active'], 'node3 has no flag', st3['flag'])
        changes = cl.node('node3')['agent'].reply_changes(n3_log)
        check(not any('drain' in rep or 'maint' in rep for _, rep in changes),
              'node3 never replied drain or maint', changes)
        for lb in cl.lbs:
            row = lb.server('node3')
            check(row['status'] == 'UP' and row['weight'] == '100', 'node3 UP on %s' % lb.name,
                  row['status'])
        steps = [(e['node'], e['step']) for e in journal(cl) if 'step' in e]
        check(('node1', 'done') in steps, 'journal: node1 done', steps)
        check(('node2', 'flagged') in steps and ('node2', 'upgraded') not in steps,
              'journal: node2 flagged, not upgraded', steps)
        check(not any(n == 'node3' for n, _ in steps), 'journal: nothing of node3', steps)

        # A plain rerun is refused: the journal holds an unfinished rollout.
        before = open(os.path.join(cl.workdir, 'journal')).read()
        r = cl.coordinator('--plan', plan)
        print(r.stdout, r.stderr, sep='\n')
        check(r.returncode not in (0, 3, 4), 'plain rerun refused (exit %d)' % r.returncode,
              r.returncode)
        check('unfinished rollout' in r.stderr and '--resume' in r.stderr and 'journal' in r.stderr,
              'it names the journal and --resume', r.stderr)
        check(open(os.path.join(cl.workdir, 'journal')).read() == before, 'the journal is unchanged')
        check(records(record) == ['node1', 'node2'], 'no upgrade ran on the refused rerun')
        check(cl.node('node2')['agent'].status()['flag']['active'], 'node2 still flagged')

        # The cause fixed: --resume continues from node2.
        cl.upgrade_map(fail=[])
        r = cl.coordinator('--plan', plan, '--resume', timeout=180)
        print(r.stdout[-4000:], r.stderr, sep='\n')
        check(r.returncode == 0, 'resume: exit 0', r.returncode)
        check('node1    skip' in r.stdout or 'already upgraded' in r.stdout,
              'resume says node1 is already upgraded', r.stdout)
        check(records(record) == ['node1', 'node2', 'node2', 'node3'],
              'resume ran node2 (again) and node3, never node1 again', records(record))
        cl.wait_all_up(timeout=15)
        for n in cl.nodes:
            st = n['agent'].status()
            check(st['health']['version'] == '2.93' and not st['flag']['active'],
                  '%s at 2.93, flag cleared' % n['name'], (st['health']['version'], st['flag']))
        done = [e['node'] for e in journal(cl) if e.get('step') == 'done']
        check(done == ['node1', 'node2', 'node3'], 'journal: every node done once, in order', done)
        check(journal(cl)[-1].get('step') == 'end', 'journal: rollout ended')


def fixed_bugs():
    """--resume after a COMPLETED rollout starts a whole new one: zdu_journal_open() starts
    afresh when the journal ends with "end", with or without --resume, so every node is
    drained and upgraded again. A retried `zdu-coordinator --resume` (a script, Ansible's
    retries) must not redo a finished rollout: it should say there is nothing to resume."""
    with Cluster(nodes=3, lbs=1) as cl:
        mapfile, record = cl.upgrade_map()
        plan = cl.write_plan(cl.upgrade_command(mapfile))
        r = cl.coordinator('--plan', plan, timeout=180)
        check(r.returncode == 0, 'rollout exit 0', r.returncode)
        cl.wait_all_up(timeout=15)
        check(records(record) == ['node1', 'node2', 'node3'], 'each node upgraded once')
        r = cl.coordinator('--plan', plan, '--resume', timeout=180)
        print(r.stdout[-2000:], r.stderr, sep='\n')
        check(records(record) == ['node1', 'node2', 'node3'],
              '--resume after the end runs no upgrade again', records(record))


def run_all():
    run()
    fixed_bugs()


if __name__ == '__main__':
    main(run_all)
