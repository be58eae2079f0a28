#!/usr/bin/python3
"""Each probe kind end to end: the built zdu-agent with a services list of ONE service (so the
listener answers on accept, as today), one agent per kind, against real peers on
127.0.0.101-104 only:

  peers
    127.0.0.101:8778  a real placement-api (Debian 12 python3-placement, Zed, max 1.39) under
                      uwsgi, behind oslo.middleware's real Healthcheck with disable_by_file
                      (tests/placement/wsgi_entry.py, tests/lib/placementlib.py)
    127.0.0.102:P     a tiny Python HTTP server: GET /v1/ answers ironic's api-ref /v1/ body
                      with X-OpenStack-Ironic-API-Maximum-Version: 1.24 (tests/data/ironic);
                      GET /status answers a status the test sets
    127.0.0.103:Q     a TCP listener (Python socket)
    127.0.0.104       the five agents, free ports

  kinds and what is shown (control socket status = `--status --json`; reply on the port)
    microversion  placement, version_path versions[0].max_version (+ min), healthcheck_url beside
                  it: up with 1.39 / 1.0; the disable file makes it 'up drain' with
                  'placement: healthcheck disabled by file'; ready again without it
    healthcheck   placement's /healthcheck as the probe itself: up; the disable file makes it
                  'up drain' with oslo's own reason 'placement-hc: healthcheck: DISABLED BY FILE'
                  (health up, disabled: the service's maintenance, not a failure); ready again
    microversion  'ironic' by header only (version_header): up with 1.24, read from the header
    http          expect_status [200, 204]: up on 204; down '#web: HTTP 500, not one of 200, 204'
    tcp           up while the listener listens; down '#memcached: connection refused' once closed
  and placement stopped: both placement services down, 'placement: connection refused'.

Before this change (7d6fbca) the agent probed probe.url (nova's default) whatever the services
list said: every agent here stays down with 'nova-api: connection refused'.
"""

import http.server
import os
import socket
import sys
import threading
import time

from agentlib import Agent, check, main
from placementlib import Placement, placement_or_skip
from probelib import watch
from testutil import free_port, tempdir

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, '..', 'data')
A_API, A_WEB, A_TCP, A_AGENT = '127.0.0.101', '127.0.0.102', '127.0.0.103', '127.0.0.104'
IRONIC_HEADER = 'X-OpenStack-Ironic-API-Maximum-Version'


class Web(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr):
        self.status = 204
        with open(os.path.join(DATA, 'ironic', 'api-v1-root-response.json'), 'rb') as f:
            self.ironic = f.read()
        super().__init__((addr, 0), WebHandler)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True).start()


class WebHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def do_GET(self):
        if self.path == '/v1/':
            code, body, extra = 200, self.server.ironic, [(IRONIC_HEADER, '1.24'),
                                                        ('X-OpenStack-Ironic-API-Minimum-Version', '1.1')]
        else:
            code, body, extra = self.server.status, b'', []
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        for k, v in extra:
            self.send_header(k, v)
        if code != 204:
            self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if code != 204:
            self.wfile.write(body)

    def log_message(self, *args):
        pass


def service_text(svc):
    """One entry of services = ( ... ); in libconfig."""
    def val(v):
        if isinstance(v, int):
            return str(v)
        if isinstance(v, list):
            return '[ ' + ', '.join(val(x) for x in v) + ' ]'
        return '"%s"' % v
    return '{ ' + ' '.join('%s = %s;' % (k, val(v)) for k, v in svc.items()) + ' }'


def agent_for(wd, name, **svc):
    svc = dict(name=name, interval_ms=200, timeout_ms=150, connect_timeout_ms=150, rise=1, fall=1,
               dead_after_ms=0, **svc)
    return Agent(workdir=os.path.join(wd, name), addr=A_AGENT, name=name,
                 settings={'probe': {'enabled': True}},
                 extra_text='services = ( %s );\n' % service_text(svc))


def down_with(reply, reason):
    """'down ready 100% #REASON': down, the weight kept for when it is back, the reason."""
    return reply.startswith('down ') and reply.endswith('#' + reason)


def wait_status(a, until, what, timeout=15):
    snaps, secs = watch(a, until, timeout=timeout, interval=0.02, what='%s: %s' % (a.name, what))
    print('timing: %s: %s after %.2fs' % (a.name, what, secs), flush=True)
    return snaps[-1]


def run():
    placement_or_skip()
    t0 = time.monotonic()
    wd = tempdir('zdu-it-kinds-')
    hc_file = os.path.join(wd, 'placement-healthcheck-disable')
    api = Placement(wd, A_API, 8778, hc_disable_file=hc_file).start()
    print('placement-api up in %.1fs' % api.start_seconds, flush=True)
    web = Web(A_WEB)
    lsock = socket.socket()
    lsock.bind((A_TCP, 0))
    lsock.listen(16)
    tcp_port = lsock.getsockname()[1]

    agents = {
        'placement': agent_for(wd, 'placement', probe='microversion', url=api.url,
                               version_path='versions[0].max_version',
                               min_version_path='versions[0].min_version',
                               healthcheck_url=api.hc_url),
        'placement-hc': agent_for(wd, 'placement-hc', probe='healthcheck', url=api.hc_url),
        'ironic': agent_for(wd, 'ironic', probe='microversion', url='http://%s:%d/v1/' % (A_WEB, web.port),
                            version_header=IRONIC_HEADER),
        'web': agent_for(wd, 'web', probe='http', url='http://%s:%d/status' % (A_WEB, web.port),
                         expect_status=[200, 204]),
        'memcached': agent_for(wd, 'memcached', probe='tcp', url='tcp://%s:%d' % (A_TCP, tcp_port)),
    }
    try:
        for a in agents.values():
            a.start()

        def up(version=None):
            return lambda s: (s['health']['state'] == 'up' and s['reply'].startswith('up ready')
                              and (version is None or s['probe']['version'] == version))

        # ---- every kind up, with its version where it has one
        for name, version in (('placement', '1.39'), ('placement-hc', None), ('ironic', '1.24'),
                              ('web', None), ('memcached', None)):
            a = agents[name]
            s = wait_status(a, up(version), 'up')
            kind = {'placement': 'microversion', 'placement-hc': 'healthcheck', 'ironic': 'microversion',
                    'web': 'http', 'memcached': 'tcp'}[name]
            check(s['probe']['service'] == name and s['probe']['kind'] == kind,
                  '%s: status names the service and its kind %s' % (name, kind), s['probe'])
            reply = a.reply()
            check(reply.startswith('up ready 100%'), '%s: the reply on accept is up ready' % name, reply)
            if version:
                check(s['health']['version'] == version and reply.endswith(' ' + version),
                      '%s: version %s in the status and the reply' % (name, version), (s['health'], reply))
        s = agents['placement'].status()
        check(s['probe']['min_version'] == '1.0' and s['probe']['healthcheck_http'] == 200,
              'placement: min_version 1.0 from versions[0].min_version, healthcheck 200', s['probe'])
        s = agents['ironic'].status()
        check(s['probe']['min_version'] == '', 'ironic: no min_version_path, none read', s['probe'])

        # ---- oslo's disable_by_file: the service's own maintenance
        open(hc_file, 'w').close()
        s = wait_status(agents['placement'], lambda x: x['health']['disabled'], 'disabled by file')
        check(s['health']['state'] == 'up'
              and s['reply'].startswith('up drain #placement: healthcheck disabled by file'),
              'placement (microversion + healthcheck_url): up drain, healthcheck disabled by file', s['reply'])
        s = wait_status(agents['placement-hc'], lambda x: x['health']['disabled'], 'disabled by file')
        check(s['health']['state'] == 'up' and s['probe']['last_ok'] is True
              and s['probe']['healthcheck_http'] == 503 and s['probe']['healthcheck_disabled'] is True
              and s['reply'] == 'up drain #placement-hc: healthcheck: DISABLED BY FILE',
              'placement-hc (healthcheck): up drain with oslo\'s reason, not a failure',
              (s['reply'], s['probe']))
        os.unlink(hc_file)
        for name in ('placement', 'placement-hc'):
            wait_status(agents[name], lambda x: not x['health']['disabled'] and x['reply'].startswith('up ready'),
                        'ready again without the file')

        # ---- http: a status out of expect_status
        web.status = 500
        s = wait_status(agents['web'], lambda x: x['health']['state'] == 'down', 'down on 500')
        check(down_with(s['reply'], 'web: HTTP 500, not one of 200, 204'),
              'web (http): down with its reason', s['reply'])
        web.status = 200
        wait_status(agents['web'], up(), 'up again on 200')

        # ---- tcp: the listener closed
        lsock.close()
        s = wait_status(agents['memcached'], lambda x: x['health']['state'] == 'down', 'down, listener closed')
        check(down_with(s['reply'], 'memcached: connection refused'), 'memcached (tcp): down, refused',
              s['reply'])

        # ---- placement stopped: both of its services down, each naming itself
        api.stop()
        for name in ('placement', 'placement-hc'):
            # a probe in flight while uwsgi dies may see a reset first
            s = wait_status(agents[name], lambda x, n=name: down_with(x['reply'], '%s: connection refused' % n),
                            'down, API stopped')
            check(s['health']['state'] == 'down' and s['probe']['service'] == name,
                  '%s: down, connection refused' % name, s['reply'])
        # the other kinds were not disturbed
        check(agents['ironic'].reply().startswith('up ready 100%'), 'ironic still up', agents['ironic'].reply())
        for a in agents.values():
            rc = a.stop()
            check(rc == 0, '%s: clean exit' % a.name, a.log_tail() if hasattr(a, 'log_tail') else rc)
    finally:
        for a in agents.values():
            a.stop()
        api.stop()
        web.shutdown()
        try:
            lsock.close()
        except OSError:
            pass
    print('timing: whole test %.1fs' % (time.monotonic() - t0))


if __name__ == '__main__':
    main(run)
