#!/usr/bin/python3
"""zdu-coordinator's preflight refuses when a load balancer of the plan does not answer, and
reaches a load balancer's runtime API over TCP (host:port) as well as over a unix socket.

  1. lb2's runtime given as a wrong socket path (lb2 itself running): exit 4 naming lb2 and
     the path; nothing changed (no flag, no journal step, no upgrade).
  2. lb2's runtime as 127.0.0.1:PORT where nothing listens: exit 4 naming lb2 and the address.
  2b. the plan names a backend the load balancers do not have (the sample plan's "nova_api"
     against this cluster's "nova-api"), run and --dry-run: exit 4 with "no backend nova_api on
     load balancer lb1 (RUNTIME); backends there: nova-api", not "has no server node1";
     nothing changed.
  3. lb1 through `stats socket ipv4@127.0.0.1:PORT level admin` (host:port), lb2 through its
     unix socket: a full rollout completes, every node drained on both before its upgrade.
  4. lb2 stopped: exit 4 naming lb2; nothing changed."""
import json
import os

from agentlib import check, main
from clusterlib import Cluster
from testutil import free_port


def journal_steps(cl):
    path = os.path.join(cl.workdir, 'journal')
    if not os.path.exists(path):
        return []
    return [json.loads(line) for line in open(path) if '"step"' in line]


def nothing_changed(cl, record, what):
    for n in cl.nodes:
        st = n['agent'].status()
        check(not st['flag']['active'], '%s: %s has no flag' % (what, n['name']), st['flag'])
    check(journal_steps(cl) == [], '%s: the journal records no step' % what, journal_steps(cl))
    check(not os.path.exists(record), '%s: no upgrade ran' % what)


def refused(cl, plan, lb_name, runtime, what):
    r = cl.coordinator('--plan', plan)
    print(r.stdout, r.stderr, sep='\n')
    check(r.returncode == 4, '%s: exit 4 (preflight refused)' % what, r.returncode)
    lines = [line for line in r.stdout.splitlines() if 'does not answer' in line]
    check(lines and ('load balancer %s (%s)' % (lb_name, runtime)) in lines[0],
          '%s: the message names %s and %s' % (what, lb_name, runtime), lines)
    return r


def run():
    rt_port = free_port()
    extra = lambda j: dict(extra_global=['stats socket ipv4@127.0.0.1:%d level admin' % rt_port]) \
        if j == 0 else {}
    with Cluster(nodes=3, lbs=2, lb_kwargs=extra) as cl:
        lb1, lb2 = cl.lbs
        mapfile, record = cl.upgrade_map()
        cmd = cl.upgrade_command(mapfile)
        unix1, unix2 = 'unix:' + lb1.sock_path, 'unix:' + lb2.sock_path

        # 1. wrong unix path
        bad = 'unix:' + os.path.join(cl.workdir, 'no-such-lb2.sock')
        plan = cl.write_plan(cmd, lbs=[('lb1', unix1), ('lb2', bad)])
        refused(cl, plan, 'lb2', bad, 'wrong socket path')
        nothing_changed(cl, record, 'wrong socket path')

        # 2. host:port where nothing listens
        dead = '127.0.0.1:%d' % free_port()
        plan = cl.write_plan(cmd, lbs=[('lb1', unix1), ('lb2', dead)])
        refused(cl, plan, 'lb2', dead, 'dead TCP address')
        nothing_changed(cl, record, 'dead TCP address')

        # 2b. a backend the load balancers do not have
        plan = cl.write_plan(cmd, backend='nova_api')
        for args in (('--plan', plan), ('--plan', plan, '--dry-run')):
            r = cl.coordinator(*args)
            print(r.stdout, r.stderr, sep='\n')
            what = 'missing backend (%s)' % ' '.join(args[2:]) if len(args) > 2 else 'missing backend'
            check(r.returncode == 4, '%s: exit 4 (preflight refused)' % what, r.returncode)
            lines = [line for line in r.stdout.splitlines() if ' fail ' in line or 'no backend' in line]
            want = 'no backend nova_api on load balancer lb1 (%s); backends there: nova-api' % unix1
            check(lines and want in lines[0], '%s: "%s"' % (what, want), lines)
            check('has no server' not in r.stdout, '%s: not reported as a missing server' % what,
                  r.stdout)
            nothing_changed(cl, record, what)

        # 3. lb1 over TCP: a full rollout
        tcp1 = '127.0.0.1:%d' % rt_port
        plan = cl.write_plan(cmd, lbs=[('lb1', tcp1), ('lb2', unix2)])
        r = cl.coordinator('--plan', plan, '--json', timeout=180)
        print(r.stdout[-3000:], r.stderr, sep='\n')
        check(r.returncode == 0, 'lb1 over host:port: rollout exit 0', r.returncode)
        ev = [json.loads(line) for line in r.stdout.splitlines()]
        drained = [e['message'] for e in ev if e['step'] == 'wait-drained' and e['event'] == 'ok']
        check(len(drained) == 3 and all('lb1: DRAIN' in m and 'lb2: DRAIN' in m for m in drained),
              'each node seen DRAIN on lb1 (TCP) and lb2 (unix)', drained)
        seen = [json.loads(line) for line in open(record)]
        check([s['node'] for s in seen] == ['node1', 'node2', 'node3'], 'every node upgraded')
        for s in seen:
            for lb, st in s['seen'].items():
                check('DRAIN' in st['status'] and st['scur'] == 0,
                      '%s drained on %s when upgraded' % (s['node'], lb), st)
        cl.wait_all_up(timeout=15)
        os.unlink(record)

        # 4. lb2 stopped
        lb2.stop()
        plan = cl.write_plan(cmd, lbs=[('lb1', tcp1), ('lb2', unix2)])
        refused(cl, plan, 'lb2', unix2, 'lb2 stopped')
        nothing_changed(cl, record, 'lb2 stopped')
        for name in ('node1', 'node2', 'node3'):
            row = lb1.server(name)
            check(row['status'] == 'UP', '%s still UP on lb1' % name, row['status'])


if __name__ == '__main__':
    main(run)
