#!/usr/bin/python3
"""Only one zdu-coordinator runs a plan at a time, and a killed one does not keep the lock.

Coordinator A runs node1's upgrade command, which is slow while a gate file exists (it
sleeps). Coordinator B on the same plan exits 5 at once, naming the lock file and A's pid,
and changes nothing. A is killed with SIGKILL (no cleanup at all); its upgrade command
(a detached process group of its own) keeps sleeping. B --resume then takes the lock (the
orphan must not hold it) and, the gate removed, upgrades every node."""
import json
import os
import signal
import time

from agentlib import check, main
from clusterlib import (Cluster, coordinator_cleanup, start_coordinator,
                        wait_slow_upgrade)


def run():
    with Cluster(nodes=3, lbs=2) as cl:
        mapfile, record = cl.upgrade_map()
        gate = os.path.join(cl.workdir, 'slow')
        pidfile = os.path.join(cl.workdir, 'slow.pid')
        open(gate, 'w').close()
        # While the gate exists: write our pid and become a long sleep (exec keeps the pid).
        cmd = ('if [ -e %s ]; then echo $$ > %s.tmp && mv %s.tmp %s; exec sleep 300; fi; %s'
               % (gate, pidfile, pidfile, pidfile, cl.upgrade_command(mapfile)))
        plan = cl.write_plan(cmd)
        lock = os.path.join(cl.workdir, 'journal.lock')
        a, out_a = start_coordinator(os.path.join(cl.workdir, 'coordA.out'), '--plan', plan)
        orphan = None
        try:
            orphan = wait_slow_upgrade(pidfile, out_a, 'A')
            check(a.poll() is None, 'A is running node1\'s upgrade')

            j_before = open(os.path.join(cl.workdir, 'journal')).read()
            for args in (('--plan', plan), ('--plan', plan, '--resume')):
                r = cl.coordinator(*args, timeout=30)
                print(r.stdout, r.stderr, sep='\n')
                check(r.returncode == 5, 'B %s: exit 5 (locked)' % (' '.join(args[2:]) or 'plain'), r.returncode)
                check(lock in r.stderr and 'pid %d' % a.pid in r.stderr,
                      'B names the lock file and A\'s pid', r.stderr)
            check(open(os.path.join(cl.workdir, 'journal')).read() == j_before,
                  'B left the journal alone')
            check(a.poll() is None, 'A still runs')

            t0 = time.monotonic()
            a.send_signal(signal.SIGKILL)
            a.wait(10)
            print('A killed (SIGKILL) after B\'s attempts; its upgrade command pid %d sleeps on'
                  % orphan)
            check(os.path.exists('/proc/%d' % orphan), 'A\'s upgrade command outlives A')
            st1 = cl.node('node1')['agent'].status()
            check(st1['flag']['active'], 'node1 stays flagged after A died', st1['flag'])

            os.unlink(gate)
            r = cl.coordinator('--plan', plan, '--resume', timeout=180)
            print(r.stdout[-3000:], r.stderr, sep='\n')
            check(r.returncode == 0, 'B --resume takes the lock and finishes (exit 0)', r.returncode)
            print('B finished %.1fs after A was killed' % (time.monotonic() - t0))
            seen = [json.loads(line)['node'] for line in open(record)]
            check(seen == ['node1', 'node2', 'node3'], 'every node upgraded once, in order', seen)
            cl.wait_all_up(timeout=15)
            for n in cl.nodes:
                st = n['agent'].status()
                check(st['health']['version'] == '2.93' and not st['flag']['active'],
                      '%s at 2.93, flag cleared' % n['name'])
            r = cl.coordinator('--plan', plan, '--dry-run')
            check(r.returncode == 0, 'the lock is free again afterwards', r)
        finally:
            coordinator_cleanup(a, out_a, 'A', orphan)


if __name__ == '__main__':
    main(run)
