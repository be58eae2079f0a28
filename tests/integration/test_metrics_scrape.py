#!/usr/bin/python3
"""A real scrape: Debian's prometheus and prometheus-node-exporter on loopback read the agent
both ways, and a flag flip shows in PromQL within one scrape interval.

  agent            127.0.0.73  metrics.listen and metrics.textfile_dir
  node_exporter    127.0.0.74  --collector.textfile.directory = that directory (job "node")
  prometheus       127.0.0.75  scrape_interval 1s: jobs "agent" (metrics.listen) and "node"

  1. Both jobs are up and zdu_agent_maintenance{service="nova-api"} is 0 through each.
  2. `zdu-agent --maintenance on` (the test's configuration): the HTTP API's instant query
     /api/v1/query returns 1 through each job within one scrape interval (1 s) plus the
     time Prometheus takes to store and answer (asserted: 2.5 s); the time is printed.
  3. The reply's administrative state and the flag's source are queryable too, and the
     probe-less agent's build_info carries its version.
  4. During a rollout (zdu-coordinator --textfile-dir into the same directory, two agents
     with fake nova-api on 127.0.0.78-79 behind one real HAProxy, clusterlib) PromQL shows
     the node and step in progress (each upgrade command held 2.5 s, over two scrapes), then
     the result "done" with 2 nodes done.
Exit 77 (skipped) only when prometheus or node_exporter is not installed.
"""
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request

from agentlib import Agent, check, main
from clusterlib import Cluster, coordinator_binary
from testutil import Proc, check_within, free_port, tempdir

AGENT, NODE, PROM = '127.0.0.73', '127.0.0.74', '127.0.0.75'
INTERVAL = 1.0


def query(port, expr):
    url = 'http://%s:%d/api/v1/query?%s' % (PROM, port, urllib.parse.urlencode({'query': expr}))
    with urllib.request.urlopen(url, timeout=2) as r:
        doc = json.load(r)
    if doc.get('status') != 'success':
        raise RuntimeError('query %s: %r' % (expr, doc))
    return {tuple(sorted(x['metric'].items())): float(x['value'][1]) for x in doc['data']['result']}


def one(port, expr):
    """The value of EXPR when it has exactly one series, else None."""
    r = query(port, expr)
    return list(r.values())[0] if len(r) == 1 else None


def test():
    prom_bin = shutil.which('prometheus')
    node_bin = shutil.which('prometheus-node-exporter')
    if not prom_bin or not node_bin:
        print('SKIP: prometheus or prometheus-node-exporter not installed (tests/install-deps)')
        sys.exit(77)
    work = tempdir('zdu-scrape-')
    tf = os.path.join(work, 'textfile')
    os.makedirs(tf)
    mport, nport, pport = free_port(AGENT), free_port(NODE), free_port(PROM)
    a = Agent(addr=AGENT, settings={'metrics': {'listen': '%s:%d' % (AGENT, mport),
                                               'textfile_dir': tf,
                                               'textfile_interval_ms': 5000}})
    a.start()
    node = Proc([node_bin, '--web.listen-address=%s:%d' % (NODE, nport),
                 '--collector.disable-defaults', '--collector.textfile',
                 '--collector.textfile.directory=%s' % tf], os.path.join(work, 'node.log'))
    cfg = os.path.join(work, 'prometheus.yml')
    with open(cfg, 'w') as f:
        f.write('global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n'
                'scrape_configs:\n'
                '  - job_name: agent\n    static_configs:\n      - targets: ["%s:%d"]\n'
                '  - job_name: node\n    static_configs:\n      - targets: ["%s:%d"]\n'
                % (AGENT, mport, NODE, nport))
    prom = Proc([prom_bin, '--config.file=%s' % cfg, '--web.listen-address=%s:%d' % (PROM, pport),
                 '--storage.tsdb.path=%s' % os.path.join(work, 'tsdb'),
                 '--storage.tsdb.retention.time=1h'], os.path.join(work, 'prometheus.log'))
    try:
        # 1. both ways up, not in maintenance
        check_within(lambda: one(pport, 'up{job="agent"}') == 1 and one(pport, 'up{job="node"}') == 1,
                     30, 'prometheus scrapes the agent and node_exporter',
                     lambda: (prom.log_tail(5), node.log_tail(3)))
        for job in ('agent', 'node'):
            check_within(lambda: one(pport, 'zdu_agent_maintenance{job="%s",service="nova-api"}'
                                     % job) == 0, 10,
                         'zdu_agent_maintenance is 0 through job %s' % job)
        check(one(pport, 'zdu_agent_build_info{job="agent",version="%s"}'
                  % a.status()['version']) == 1, 'build_info with the version label')

        # 2. the flip, timed
        r = a.cli('--maintenance', 'on', '--reason', 'scrape test')
        t0 = time.monotonic()
        check(r.returncode == 0, 'zdu-agent --maintenance on', r.stderr)
        seen = {}
        deadline = t0 + 2.5 * INTERVAL
        while time.monotonic() < deadline and len(seen) < 2:
            for job in ('agent', 'node'):
                if job not in seen and one(pport, 'zdu_agent_maintenance{job="%s",service="nova-api"}'
                                           % job) == 1:
                    seen[job] = time.monotonic() - t0
            time.sleep(0.05)
        print('flag flip visible in PromQL after: %s (scrape_interval %.0f s)'
              % (', '.join('%s %.2f s' % kv for kv in sorted(seen.items())), INTERVAL))
        check(len(seen) == 2, 'the flip shows in PromQL through both jobs within %.1f s'
              % (2.5 * INTERVAL), seen)

        # 3. what else a dashboard reads
        check(one(pport, 'zdu_agent_reply_administrative{job="agent",state="drain"}') == 1,
              'reply drain queryable')
        check(one(pport, 'zdu_agent_maintenance_flag{job="node",source="file"}') == 1,
              'the flag source (file) through the textfile')
        check(one(pport, 'time() - zdu_agent_maintenance_since_timestamp_seconds{job="agent"}') < 60,
              'time in maintenance is computable')

        # 4. a rollout's progress through node_exporter
        with Cluster(nodes=2, lbs=1, base=78) as cl:
            mapfile, _ = cl.upgrade_map()
            # each upgrade held 2.5 s (sh -c): a rollout of fake nodes otherwise ends within a
            # second, between two scrapes, and the test would measure the rollout's speed
            plan = cl.write_plan('sleep 2.5; ' + cl.upgrade_command(mapfile), name='scrape.conf')
            p = subprocess.Popen([coordinator_binary(), '--plan', plan, '--textfile-dir', tf],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            seen = set()
            while p.poll() is None:
                for labels in query(pport, 'zdu_coordinator_node_step{job="node",plan="scrape"} == 1'):
                    d = dict(labels)
                    seen.add((d['node'], d['step']))
                time.sleep(0.2)
            out = p.communicate()[0]
            check(p.returncode == 0, 'the rollout completes', out[-400:])
            print('steps seen through PromQL while it ran: %s' % sorted(seen))
            check(seen, 'the node and step in progress show in PromQL during the rollout')
            check_within(lambda: one(pport, 'zdu_coordinator_rollout_result{job="node",plan="scrape",'
                                     'result="done"}') == 1 and
                         one(pport, 'zdu_coordinator_nodes_done{job="node",plan="scrape"}') == 2,
                         2.5 * INTERVAL, 'then result done, 2 nodes done, in PromQL')
    finally:
        prom.stop()
        node.stop()


if __name__ == '__main__':
    main(test)
