#!/usr/bin/python3
"""The agent publishes its state at /zdu/agents/NODE under a lease (lease_ttl_s = 3).

  * the key appears, holds JSON shaped like the status (reply, health, flag...), its reply is
    what the agent answers HAProxy, and it is attached to a lease;
  * it stays while the agent runs (checked every 250 ms for over two lease TTLs: the lease is
    kept alive);
  * it follows the agent's state: node key set -> the published reply is the drain; deleted ->
    ready again;
  * its lease revoked under it (etcd says the lease is gone at the next keep-alive) -> the
    agent publishes again under a new lease within lease_ttl_s + 2 s;
  * kill -9 of the agent -> the key is gone within lease_ttl_s + 3 s (measured);
  * the agent started again publishes again.
"""

import json
import time

from agentlib import Agent, check, main
from etcdlib import (EtcdCluster, agent_etcd_settings, agent_key, flag_value, node_key,
                     wait_etcd_state)
from testutil import free_port, tempdir, wait_until

READY = 'up ready 100%'
NODE = 'n1'
TTL = 3
KEY = agent_key(NODE)


def published(ec):
    kv = ec.get_kv(KEY)
    if kv is None:
        return None
    kv['json'] = json.loads(kv['value'].decode())
    return kv


def wait_published(ec, pred, what, timeout=10):
    last = {}

    def poll():
        kv = published(ec)
        last['kv'] = kv
        return kv if kv is not None and pred(kv['json']) else None
    t0 = time.monotonic()
    kv = wait_until(poll, timeout=timeout, interval=0.05,
                    message=lambda: 'published state %s (last %r)' % (
                        what, last.get('kv') and last['kv']['value'][:300]))
    return kv, time.monotonic() - t0


def run():
    work = tempdir('zdu-it-etcd-pub-')
    with EtcdCluster(work) as ec:
        # drain counting on (a port nothing listens on): its counts change every 100 ms and
        # must not make a write each time
        settings = dict(agent_etcd_settings(ec, node=NODE, lease_ttl_s=TTL),
                        drain={'ports': [free_port('127.0.0.1')], 'interval_ms': 100})
        agent = Agent(workdir=work, settings=settings)
        t0 = time.monotonic()
        agent.start()
        kv, _ = wait_published(ec, lambda j: True, 'present')
        print('published %.0f ms after the start: %s' % ((time.monotonic() - t0) * 1000,
                                                         kv['value'][:400].decode()))
        j = kv['json']
        check(isinstance(j, dict) and 'reply' in j, 'the value is a JSON object with "reply"',
              j)
        for k in ('health', 'flag', 'drained', 'node', 'time'):
            check(k in j, 'it has "%s" (state, version, drained, when)' % k, sorted(j))
        check(j['reply'] == agent.reply() == READY, 'published reply = the agent reply',
              j['reply'])
        check(j['health'].get('state') == 'unchecked', 'health unchecked (probe off)',
              j['health'])
        check(kv['lease'] != 0, 'the key is attached to a lease (%x)' % kv['lease'], kv)
        ttl = ec.lease_ttl(kv['lease'])
        check(0 < ttl <= TTL, 'lease TTL left %d s (<= lease_ttl_s %d)' % (ttl, TTL), ttl)

        # ---------------------------------------------------------------- kept alive
        # (from when the agent's watch is up: "reachable" turning true is a change)
        wait_published(ec, lambda j: j['flag']['etcd']['reachable'], 'etcd reachable', timeout=5)
        t_start = time.monotonic()
        t_end = t_start + 2 * TTL + 1
        n = 0
        vanished = None
        revs = {}
        while time.monotonic() < t_end:
            kv = ec.get_kv(KEY)
            if kv is None:
                vanished = time.monotonic() - t_start
                break
            revs[kv['mod_revision']] = kv['value']
            n += 1
            time.sleep(0.25)
        check(vanished is None, 'the key stayed for %d s (%d reads): the lease is kept alive'
              % (2 * TTL + 1, n), 'the published key vanished %.2f s into the keep-alive check'
              % (vanished or 0))
        check(len(revs) == 1, 'nothing changed, nothing written (one revision in %d reads)' % n,
              sorted(revs))

        # ---------------------------------------------------------------- follows the state
        ec.put(node_key(NODE), flag_value('published drain'))
        kv, dt = wait_published(ec, lambda j: j.get('reply') == 'up drain #maintenance: '
                                'published drain', 'reply drain', timeout=5)
        print('timing: published reply is the drain %.0f ms after the put' % (dt * 1000))
        check(kv['json']['flag'].get('active') is True, 'published flag active',
              kv['json']['flag'])
        # flagged, the connections are counted every 100 ms: once the first count and the
        # settle time are in (drained), what only moves with time is not written
        wait_published(ec, lambda j: j.get('drained') is True, 'drained', timeout=10)
        revs = set()
        t_end = time.monotonic() + 1.5
        while time.monotonic() < t_end:
            revs.add(ec.get_kv(KEY)['mod_revision'])
            time.sleep(0.1)
        check(len(revs) == 1, 'drained and counting: nothing written for 1.5 s', sorted(revs))
        ec.delete(node_key(NODE))
        kv, dt = wait_published(ec, lambda j: j.get('reply') == READY, 'reply ready', timeout=5)
        print('timing: published reply ready again %.0f ms after the delete' % (dt * 1000))

        # ---------------------------------------------------------------- lease lost
        revoked = kv['lease']
        log_at = len(agent.log_text())
        ec.lease_revoke(revoked)
        t0 = time.monotonic()
        kv, dt = wait_published(ec, lambda j: j.get('reply') == READY, 'published again after '
                                'the revoke', timeout=TTL + 2)
        print('timing: published again %.0f ms after its lease was revoked' % (dt * 1000))
        check(kv['lease'] not in (0, revoked), 'under a new lease', kv['lease'])
        check(time.monotonic() - t0 <= TTL + 2, 'within lease_ttl_s + 2 s')
        agent.wait_log('the lease of %s ran out' % KEY, timeout=1, start=log_at)

        # ---------------------------------------------------------------- kill -9
        lease = kv['lease']
        agent.kill()
        t0 = time.monotonic()
        wait_until(lambda: ec.get(KEY) is None, timeout=TTL + 3, interval=0.05,
                   message='published key gone within lease_ttl_s + 3 s after kill -9')
        dt = time.monotonic() - t0
        print('timing: published key gone %.2f s after kill -9 (lease_ttl_s %d)' % (dt, TTL))
        check(dt <= TTL + 3, 'key gone within lease_ttl_s + 3 s', dt)
        check(ec.lease_ttl(lease) == -1, 'its lease expired')

        # ---------------------------------------------------------------- published again
        agent.start()
        kv, dt = wait_published(ec, lambda j: j.get('reply') == READY, 'present again')
        print('published again %.0f ms after the restart' % (dt * 1000))
        check(kv['lease'] not in (0, lease), 'under a new lease', kv['lease'])
        wait_etcd_state(agent, lambda s: s.get('reachable') is True, 'reachable')
        rc = agent.stop()
        check(rc == 0, 'agent exits 0 on SIGTERM', rc)
        print('after SIGTERM the published key is %s' % (
            'gone (lease revoked)' if ec.get(KEY) is None else 'still there (expires with '
            'its lease)'))


if __name__ == '__main__':
    main(run)
