#!/usr/bin/python3
"""A rollout with every node reached through etcd (no control socket, no ssh), two HAProxy,
a real three-member etcd cluster; then the etcd lease lock and the journal in etcd.

1. Two coordinators are started at the same instant on the plan (nodes `agent = "etcd"`):
   exactly one takes the etcd lock (A); the other exits 5 at once, naming A's pid. node1's
   upgrade is slow while a gate exists. Coordinator B, started meanwhile, is refused too.
2. A is killed with SIGKILL: no cleanup, the lock's lease is not revoked. B --resume keeps
   being refused until the lease's TTL ran out, then takes the lock and, reading the journal
   from etcd (not from a file: the plan has none), finishes without redoing node1's flag or
   repeating an upgrade; every node ends at 2.93, UP on both HAProxy.
3. Coordinator C runs the plan anew and sits in node1's slow upgrade; its lock's lease is
   revoked behind its back: at its next keep-alive C says its etcd lock is lost."""
import json
import os
import signal
import subprocess
import time

from agentlib import check, main
from clusterlib import (Cluster, coordinator_binary, coordinator_cleanup, libconfig_str,
                        start_coordinator, wait_slow_upgrade)
from etcdlib import EtcdCluster, agent_etcd_settings
from testutil import check_within, wait_until

LOCK_TTL = 4


def run():
    with EtcdCluster() as ec:
        eps = ec.endpoints
        with Cluster(nodes=3, lbs=2, agent_extra=lambda name: agent_etcd_settings(
                ec, node=name, publish_interval_ms=200)) as cl:
            for n in cl.nodes:
                wait_until(lambda: ec.get('/zdu/agents/' + n['name']) is not None, timeout=10,
                           message='%s publishes its state in etcd' % n['name'])
            mapfile, record = cl.upgrade_map()
            gate = os.path.join(cl.workdir, 'slow')
            pidfile = os.path.join(cl.workdir, 'slow.pid')
            open(gate, 'w').close()
            cmd = ('if [ -e %s ]; then echo $$ > %s.tmp && mv %s.tmp %s; exec sleep 300; fi; %s'
                   % (gate, pidfile, pidfile, pidfile, cl.upgrade_command(mapfile)))
            extra = 'etcd = { endpoints = [ %s ]; lock_ttl_s = %d; flag_timeout_ms = 5000; };' % (
                ', '.join(libconfig_str(e) for e in eps), LOCK_TTL)
            plan = cl.write_plan(cmd, extra=extra, node_entries=[
                dict(name=n['name'], server=n['name'], agent='etcd') for n in cl.nodes])
            # No journal file in an etcd plan: drop the line write_plan adds.
            text = open(plan).read().splitlines()
            open(plan, 'w').write('\n'.join(l for l in text if not l.startswith('journal')) + '\n')

            outs = [open(os.path.join(cl.workdir, 'coord%d.out' % i), 'w') for i in (1, 2)]
            both = [subprocess.Popen([coordinator_binary(), '--plan', plan], stdout=o,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
                    for o in outs]
            wait_until(lambda: any(p.poll() is not None for p in both), timeout=30,
                       message='one of two simultaneous coordinators gives up')
            loser = next(i for i, p in enumerate(both) if p.poll() is not None)
            a, out_a = both[1 - loser], outs[1 - loser]
            lose_text = open(outs[loser].name).read()
            print('simultaneous start: coordinator %d refused:\n%s' % (loser + 1, lose_text))
            check(both[loser].returncode == 5, 'of two started at once, one exits 5 (locked)',
                  both[loser].returncode)
            check('pid %d' % a.pid in lose_text, 'the refused one names the holder\'s pid', lose_text)
            outs[loser].close()
            orphan = None
            try:
                orphan = wait_slow_upgrade(pidfile, out_a, 'A')
                st1 = cl.node('node1')['agent'].status()
                check(st1['flag']['etcd']['source'] == 'node' and st1['flag']['active'],
                      'node1 flagged through its etcd key', st1['flag'])
                check(ec.get('/zdu/maintenance/nodes/node1') is not None, 'the node key is set')
                row = [lb.server('node1')['status'] for lb in cl.lbs]
                check(all(s.startswith('DRAIN') or s.startswith('MAINT') for s in row),
                      'node1 drained on both HAProxy', row)
                j_before = ec.get('/zdu/coordinator/journal')
                check(j_before and b'"flagged"' in j_before, 'the journal is in etcd', j_before)

                r = cl.coordinator('--plan', plan, timeout=30)
                print(r.stdout, r.stderr, sep='\n')
                check(r.returncode == 5, 'B refused while A runs (exit 5)', r.returncode)
                check('pid %d' % a.pid in r.stderr and '/zdu/coordinator/lock' in r.stderr,
                      'B names the etcd lock and A\'s pid', r.stderr)
                check(ec.get('/zdu/coordinator/journal') == j_before, 'B left the journal alone')

                t_kill = time.monotonic()
                a.send_signal(signal.SIGKILL)
                a.wait(10)
                os.unlink(gate)
                # B --resume, again and again: refused until the lease ran out.
                refused = 0
                while True:
                    r = cl.coordinator('--plan', plan, '--resume', timeout=180)
                    if r.returncode != 5:
                        break
                    refused += 1
                    check(time.monotonic() - t_kill < LOCK_TTL + 10, 'the lock ends within the TTL')
                    time.sleep(0.5)
                t_got = time.monotonic() - t_kill
                print(r.stdout[-4000:], r.stderr, sep='\n')
                print('B refused %d times, got the lock %.1f s after A was killed (lock_ttl_s %d)'
                      % (refused, t_got, LOCK_TTL))
                check(r.returncode == 0, 'B --resume finishes (exit 0)', r.returncode)
                check(refused >= 1 and t_got >= LOCK_TTL - 1.5,
                      'the lock was held for about the TTL after -9', (refused, t_got))
                j_after = ec.get('/zdu/coordinator/journal')
                check('resuming' in r.stdout and j_after.startswith(j_before),
                      'B resumed A\'s journal from etcd (appended to it, did not start anew)',
                      (j_before, j_after))
                seen = [json.loads(line)['node'] for line in open(record)]
                check(seen == ['node1', 'node2', 'node3'], 'every node upgraded once, in order', seen)
                cl.wait_all_up(timeout=15)
                for n in cl.nodes:
                    st = n['agent'].status()
                    check(st['health']['version'] == '2.93' and not st['flag']['active'],
                          '%s at 2.93, flag cleared' % n['name'], st['flag'])
                    check(ec.get('/zdu/maintenance/nodes/' + n['name']) is None,
                          '%s: node key deleted' % n['name'])
                j = ec.get('/zdu/coordinator/journal').decode()
                check(j.rstrip().endswith('"end"}'), 'the journal in etcd ends the rollout', j[-200:])
                check(ec.get('/zdu/coordinator/lock') is None, 'B released the lock at exit')
                r = cl.coordinator('--plan', plan, '--resume', timeout=30)
                check(r.returncode == 0 and 'nothing to resume' in r.stdout,
                      'a further --resume has nothing to do', r.stdout + r.stderr)
                lock_lost(cl, ec, plan, gate, pidfile)
            finally:
                coordinator_cleanup(a, out_a, 'A', orphan)


def lock_lost(cl, ec, plan, gate, pidfile):
    """3: C's lease revoked under it while it waits on node1's upgrade."""
    if os.path.exists(pidfile):
        os.unlink(pidfile)
    open(gate, 'w').close()
    c, out = start_coordinator(os.path.join(cl.workdir, 'coord3.out'), '--plan', plan)
    orphan = None
    try:
        orphan = wait_slow_upgrade(pidfile, out, 'C')
        kv = ec.get_kv('/zdu/coordinator/lock')
        check(kv is not None and kv['lease'] != 0, 'C holds the lock under a lease', kv)
        ec.lease_revoke(kv['lease'])
        t0 = time.monotonic()
        check_within(lambda: 'the etcd lock /zdu/coordinator/lock is lost' in open(out.name).read(),
                     LOCK_TTL + 2, 'C says its etcd lock is lost within lock_ttl_s + 2 s of the revoke',
                     detail=lambda: open(out.name).read())
        print('timing: C reported the lost lock %.2f s after the revoke (lock_ttl_s %d)'
              % (time.monotonic() - t0, LOCK_TTL))
    finally:
        coordinator_cleanup(c, out, 'C', orphan)


if __name__ == '__main__':
    main(run)
