#!/usr/bin/python3
"""Self-test of tests/lib/apilib.py and serviceslib.py: the real APIs and the multi-backend
HAProxy that issue 17's tests stand on, without zdu-agent.

    PYTHONPATH=tests/lib /usr/bin/python3 tests/lib/selftest_apis.py

  * nova-api (127.0.0.91:8774), placement-api (127.0.0.92:8778) and glance-api
    (127.0.0.93:9292) started at once (apilib.start_all), each one's start time and CPU time
    printed, and one real answer each:
      nova      GET /v2.1/ -> "version" the installed release's maximum (2.93 on Debian 12,
                2.100 on Debian 13); GET /v2.1/flavors at that version -> 200;
      placement GET / -> versions[0].max_version 1.39; GET /resource_providers at
                placement 1.39 -> 200, at 1.40 -> 406;
      glance    GET /healthcheck -> 200 "OK"; with DIR/healthcheck_disable -> 503
                "DISABLED BY FILE"; removed -> 200; GET / lists versions without any
                microversion ("max_version" absent);
  * stop() of each: the port is closed afterwards and no uwsgi process of it is left;
  * serviceslib.ServicesHAProxy with two backends whose servers agent-check one
    haproxy.AgentResponder (127.0.0.94) with agent-send "alpha\\n" / "beta\\n": both names
    reach the responder, and a comment-only reply leaves a server drained by hand as it was
    (agent_desc 'No status change'), a 'ready' reply undrains it.
Exit 77 (skipped) only when the packages cannot be installed. CTest: selftest_apis
(RESOURCE_LOCK apis-91-99, the addresses it shares with integration_services_haproxy).
"""

import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from agentlib import check, check_holds, check_within  # noqa: E402
from apilib import (GlanceApi, NovaApi, PlacementApi, ensure_packages_or_skip,  # noqa: E402
                    start_all, stop_all)
from haproxy import AgentResponder  # noqa: E402
from serviceslib import ServicesHAProxy  # noqa: E402
from probelib import installed_nova_max  # noqa: E402
from testutil import remove_tempdirs, stop_all_procs, tempdir  # noqa: E402

NOVA_MAX = installed_nova_max()   # 2.93 on Debian 12, 2.100 on Debian 13


def closed(addr, port):
    try:
        with socket.create_connection((addr, port), timeout=0.5):
            return False
    except OSError:
        return True


def check_apis(wd):
    nova, placement, glance = apis = [NovaApi(wd, '127.0.0.91'), PlacementApi(wd, '127.0.0.92'),
                                      GlanceApi(wd, '127.0.0.93')]
    start_all(apis)
    try:
        st, doc = nova.get_json('/v2.1/')
        check(st == 200 and doc['version']['version'] == NOVA_MAX, 'nova: GET /v2.1/ -> ' + NOVA_MAX,
              (st, doc))
        st, _, body = nova.get('/v2.1/flavors', version=NOVA_MAX)
        check(st == 200 and json.loads(body) == {'flavors': []},
              'nova: flavors at compute %s -> 200 []' % NOVA_MAX, (st, body[:200]))

        st, doc = placement.get_json('/')
        check(st == 200 and doc['versions'][0]['max_version'] == '1.39',
              'placement: GET / -> versions[0].max_version 1.39', (st, doc))
        st, _, body = placement.get('/resource_providers', version='1.39')
        check(st == 200, 'placement: /resource_providers at 1.39 -> 200', (st, body[:200]))
        st, _, body = placement.get('/resource_providers', version='1.40')
        check(st == 406, 'placement: /resource_providers at 1.40 -> 406', (st, body[:200]))

        st, _, body = glance.get('/healthcheck')
        check((st, body) == (200, b'OK'), 'glance: /healthcheck -> 200 OK', (st, body))
        glance.disable_healthcheck()
        st, _, body = glance.get('/healthcheck')
        check((st, body) == (503, b'DISABLED BY FILE'),
              'glance: /healthcheck with the disable file -> 503 DISABLED BY FILE', (st, body))
        glance.enable_healthcheck()
        st, _, body = glance.get('/healthcheck')
        check((st, body) == (200, b'OK'), 'glance: disable file removed -> 200 OK', (st, body))
        st, _, body = glance.get('/')
        vers = json.loads(body)['versions'] if body else []
        check(st in (200, 300) and vers and all('max_version' not in v for v in vers),
              'glance: GET / lists versions, no microversions', (st, body[:300]))

        for a in apis:
            pids = a.pids()
            t0 = time.monotonic()
            a.stop()
            print('%s: stop %.2f s' % (a.name, time.monotonic() - t0), flush=True)
            check(closed(a.addr, a.port), '%s: port closed after stop()' % a.name)
            check_within(lambda pids=pids: not [p for p in pids if os.path.exists('/proc/%d' % p)],
                         5, '%s: no uwsgi process left' % a.name)
    finally:
        stop_all(apis)


def check_haproxy(wd):
    ag = AgentResponder('127.0.0.94', 0, line='#unknown', read_send=True)
    srv = dict(name='n1', agent_port=ag.port, agent_addr='127.0.0.94', check=False)
    lb = ServicesHAProxy(wd, backends={
        'alpha': [dict(srv, addr='127.0.0.91', port=8774, agent_send='alpha\n')],
        'beta': [dict(srv, addr='127.0.0.92', port=8778, agent_send='beta\n')]},
        agent_inter_ms=200).start()
    try:
        lb.set_state('n1', 'drain', backend='beta')
        check_within(lambda: {b'alpha\n', b'beta\n'} <= set(ag.received), 5,
                     'both agent-send names reach the one agent port', detail=lambda: ag.received)
        check_holds(lambda: lb.server_is('n1', {'status': 'DRAIN (agent)',
                                                'agent_desc': 'No status change'}, 'beta'),
                    0.6, 'a comment-only reply leaves beta drained',
                    detail=lambda: lb.describe('n1', 'beta'))
        check(lb.server('n1', 'beta')['last_agt'] == '',
              'HAProxy 2.6 shows no comment without a state word (last_agt empty)',
              lb.describe('n1', 'beta'))
        ag.set('up ready 100%')
        check_within(lambda: lb.server_is('n1', 'no check', 'beta'), 5,
                     "a 'ready' reply undrains beta", detail=lambda: lb.describe('n1', 'beta'))
    finally:
        lb.stop()
        ag.close()


def main():
    ensure_packages_or_skip()
    t0 = time.monotonic()
    wd = tempdir('zdu-selftest-apis-')
    try:
        check_haproxy(wd)
        check_apis(wd)
    except BaseException as e:  # noqa: B902 - report everything
        import traceback
        traceback.print_exc()
        print('FAIL (%.1fs): %s' % (time.monotonic() - t0, e), flush=True)
        stop_all_procs()
        sys.exit(1)
    stop_all_procs()
    remove_tempdirs()
    print('PASS (%.1fs)' % (time.monotonic() - t0), flush=True)


if __name__ == '__main__':
    main()
