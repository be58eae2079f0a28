#!/usr/bin/python3
"""strategy = "cutover": the first group (node1) is upgraded while the old group serves and
stays out of service; one runtime request per load balancer then makes it ready and drains the
old group; the old group is upgraded and comes back. The old group's upgrades run while only
the new group serves, no node is ever back at the old release after the switch, and the
agents' flags end consistent with the load balancers."""
import json
import os

from agentlib import check, main
from clusterlib import Cluster


def run():
    with Cluster(nodes=3, lbs=2) as cl:
        mapfile, record = cl.upgrade_map()
        plan = cl.write_plan(cl.upgrade_command(mapfile), expect_version='2.93',
                             extra='strategy = "cutover";')
        r = cl.coordinator('--plan', plan, '--json')
        print(r.stdout[-4000:], r.stderr, sep='\n')
        check(r.returncode == 0, 'coordinator exit 0', r.returncode)
        events = [json.loads(line) for line in r.stdout.splitlines() if line.startswith('{')]
        sw = [e for e in events if e['step'] == 'switch' and 'runtime switch applied' in e['message']]
        check(len(sw) == 1, 'one runtime switch', sw)
        print('switch:', sw[0]['message'])

        seen = [json.loads(line) for line in open(record)]
        check([s['node'] for s in seen] == ['node1', 'node2', 'node3'], 'first group first',
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
        steps = [(e.get('node'), e.get('step')) for e in journal[1:]]
        i_sw = steps.index(('', 'switched'))
        check(('node1', 'healthy') in steps[:i_sw] and ('node1', 'done') not in steps[:i_sw],
              'node1 upgraded before the switch and kept out of service', steps[:i_sw])
        check(('node2', 'flagged') in steps[i_sw:] and ('node3', 'done') in steps[i_sw:],
              'old group upgraded after the switch', steps[i_sw:])


if __name__ == '__main__':
    main(run)
