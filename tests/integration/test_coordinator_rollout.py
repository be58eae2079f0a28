#!/usr/bin/python3
"""zdu-coordinator rolls three nodes behind two real HAProxy load balancers: in plan order,
each node drained on both load balancers (status DRAIN, no session) before its upgrade command
runs, each back UP with weight 100 on both afterwards, every node at the new version, and the
journal records every node done."""
import json
import os

from agentlib import check, main
from clusterlib import Cluster


def run():
    with Cluster(nodes=3, lbs=2) as cl:
        mapfile, record = cl.upgrade_map()
        plan = cl.write_plan(cl.upgrade_command(mapfile), expect_version='2.93')
        r = cl.coordinator('--plan', plan, '--json')
        print(r.stdout[-3000:], r.stderr, sep='\n')
        check(r.returncode == 0, 'coordinator exit 0', r.returncode)
        events = [json.loads(line) for line in r.stdout.splitlines() if line.startswith('{')]
        check(events and events[-1]['event'] == 'done', 'last event is done', events[-1:])

        seen = [json.loads(line) for line in open(record)]
        check([s['node'] for s in seen] == ['node1', 'node2', 'node3'], 'upgrades ran in plan order',
              [s['node'] for s in seen])
        for s in seen:
            for lb, st in s['seen'].items():
                check('DRAIN' in st['status'] and st['scur'] == 0,
                      '%s drained on %s when its upgrade ran' % (s['node'], lb), st)

        cl.wait_all_up(timeout=5)
        for n in cl.nodes:
            st = n['agent'].status()
            check(st['health']['version'] == '2.93', '%s at 2.93' % n['name'], st['health'])
            check(not st['flag']['active'], '%s flag cleared' % n['name'], st['flag'])
        journal = [json.loads(line) for line in open(os.path.join(cl.workdir, 'journal'))]
        done = [e['node'] for e in journal if e.get('step') == 'done']
        check(done == ['node1', 'node2', 'node3'], 'journal: every node done in order', done)
        check(journal[-1].get('step') == 'end', 'journal ends the rollout', journal[-1])
        # Each node came back before the next one left: never two drained at once.
        order = [(e['node'], e['step']) for e in journal if e.get('step') in ('flagged', 'done')]
        check(order == [('node1', 'flagged'), ('node1', 'done'), ('node2', 'flagged'),
                        ('node2', 'done'), ('node3', 'flagged'), ('node3', 'done')],
              'one node at a time', order)


if __name__ == '__main__':
    main(run)
