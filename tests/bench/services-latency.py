#!/usr/bin/python3
"""services-latency.py BUILD_DIR: do ten services, one of them hung, slow down the agent's
replies? (issue 17, item 6: "probes never delay replies").

p99 agent-check reply latency (connect, send the name, read the reply to EOF) of
BUILD_DIR/agent/zdu-agent for the service "nova-api" in two configurations:
  single : a services list with one healthy service, nova-api (probe "nova" against
           tests/lib/fake_nova.py);
  ten    : nova-api as above, eight more healthy services (probe "http", the same fake nova)
           and "hung" (probe "http" against a TCP server that accepts and never answers: every
           probe of it times out, a request is in flight 83 % of the time).
Every service probes every 300 ms with a 250 ms timeout.  Measured by CLIENTS client
processes (each sequential: connect, send "nova-api\\n", read to EOF) for DURATION s, ROUNDS
times each, alternating single/ten so that machine noise hits both alike.  Prints every run,
the median p99 of each and the ratio ten/single.  Target: ratio <= 1.10.  Not a timed test:
a benchmark on a shared machine is noisy (STRICT=1 makes a miss exit 1).

Before measuring, it waits (at most 15 s) for nova-api's reply to say 'up ready' and, in
"ten", for the hung service's reply to say 'down'.  An agent without issue 17's listener
(answering every connection with one reply, probing one service) never reports "hung"
down: the script then says so and measures anyway, but those numbers only compare the same
code path twice and mean nothing for item 6.

Addresses: the agent on 127.0.0.96, the fake nova and the hung server on 127.0.0.97 (free
ports).  Every process started here is stopped on exit.
Knobs (environment): CLIENTS=4 DURATION=5 ROUNDS=3 TARGET=1.10 STRICT=0
Exit status: 0 ok, 1 a run failed (or STRICT and over target), 2 usage/setup.
"""

import multiprocessing
import os
import socket
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, '..', '..'))
sys.path.insert(0, os.path.join(SRC, 'tests', 'lib'))

from agentlib import Agent  # noqa: E402
from serviceslib import ask, percentile, services_text  # noqa: E402
from testutil import Proc, free_port, tempdir, wait_until  # noqa: E402

AGENT_ADDR, PEER_ADDR = '127.0.0.96', '127.0.0.97'
CLIENTS = int(os.environ.get('CLIENTS', '4'))
DURATION = float(os.environ.get('DURATION', '5'))
ROUNDS = int(os.environ.get('ROUNDS', '3'))
TARGET = float(os.environ.get('TARGET', '1.10'))
STRICT = os.environ.get('STRICT', '0') == '1'
NAME = b'nova-api\n'

HUNG_SERVER = r'''
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 0))
s.listen(128)
print('ready port=%d' % s.getsockname()[1], flush=True)
held = []
while True:
    c, _ = s.accept()      # accepted, never read, never answered
    held.append(c)
    if len(held) > 1000:
        held.pop(0).close()
'''


def die(msg):
    print('services-latency: %s' % msg, file=sys.stderr, flush=True)
    sys.exit(2)


def start_peer(argv, log, pattern):
    p = Proc(argv, log)

    def ready():
        if not p.alive():
            raise RuntimeError('%s exited: %s' % (argv[1], p.log_tail()))
        for ln in p.log_text().splitlines():
            if ln.startswith(pattern):
                return ln
        return None
    line = wait_until(ready, timeout=15, message='%s ready' % argv[1])
    return p, line


def client(args):
    """One client process: sequential probes for DURATION s -> (latencies, errors)."""
    addr, port, duration = args
    lat, errors = [], 0
    end = time.monotonic() + duration
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            with socket.create_connection((addr, port), timeout=2) as s:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.sendall(NAME)
                data = b''
                while True:
                    d = s.recv(4096)
                    if not d:
                        break
                    data += d
            if not data.endswith(b'\n'):
                errors += 1
                continue
        except OSError:
            errors += 1
            continue
        lat.append(time.monotonic() - t0)
    return lat, errors


def measure(agent):
    with multiprocessing.Pool(CLIENTS) as pool:
        res = pool.map(client, [(agent.addr, agent.port, DURATION)] * CLIENTS)
    lat = [x for r in res for x in r[0]]
    errors = sum(r[1] for r in res)
    return lat, errors


def service(name, probe, url, **kw):
    d = dict(name=name, probe=probe, url=url, interval_ms=300, timeout_ms=250,
             connect_timeout_ms=250, rise=2, fall=3)
    d.update(kw)
    return d


def main():
    if len(sys.argv) != 2:
        print('usage: services-latency.py BUILD_DIR', file=sys.stderr)
        sys.exit(2)
    binary = os.path.join(os.path.abspath(sys.argv[1]), 'agent', 'zdu-agent')
    if not os.access(binary, os.X_OK):
        die('%s does not exist (build the agent first)' % binary)
    os.environ['ZDU_AGENT'] = binary
    wd = tempdir('zdu-services-latency-')
    nova, line = start_peer(['/usr/bin/python3', os.path.join(SRC, 'tests', 'lib', 'fake_nova.py'),
                             '--listen', '%s:0' % PEER_ADDR], os.path.join(wd, 'nova.log'),
                            'ready listen=')
    nova_port = int(line.split()[1].rsplit(':', 1)[1])
    hung, line = start_peer(['/usr/bin/python3', '-c', HUNG_SERVER, PEER_ADDR],
                            os.path.join(wd, 'hung.log'), 'ready port=')
    hung_port = int(line.split('=')[1])
    nova_url = 'http://%s:%d/v2.1/' % (PEER_ADDR, nova_port)

    single = [service('nova-api', 'nova', nova_url)]
    ten = single + [service('api-%02d' % i, 'http', nova_url, expect_status=[200])
                    for i in range(1, 9)]
    ten.append(service('hung', 'http', 'http://%s:%d/' % (PEER_ADDR, hung_port),
                       expect_status=[200]))
    agents = {}
    for label, svcs in (('single', single), ('ten', ten)):
        port = free_port(AGENT_ADDR)
        agents[label] = Agent(workdir=os.path.join(wd, label), addr=AGENT_ADDR, port=port,
                              settings={'log': {'level': 'notice'}},
                              extra_text=services_text(svcs), name=label, start=False)

    print('== zdu-agent %s; %d services vs 1 (one hung), %d client processes x %.0f s, %d rounds,'
          ' %d CPUs' % (binary, len(ten), CLIENTS, DURATION, ROUNDS, os.cpu_count()), flush=True)
    status = 0
    p99s = {'single': [], 'ten': []}
    meaningful = True
    for r in range(1, ROUNDS + 1):
        for label in ('single', 'ten'):
            a = agents[label]
            a.start()       # one agent at a time: the other does not share the CPUs
            try:
                try:
                    wait_until(lambda: ask(a.addr, a.port, 'nova-api').startswith('up ready'),
                               timeout=15, message='nova-api ready')
                except AssertionError as e:
                    print('services-latency: %s: %s' % (label, e), file=sys.stderr)
                    status = 1
                if label == 'ten':
                    try:
                        wait_until(lambda: ask(a.addr, a.port, 'hung').startswith('down'),
                                   timeout=15, message='the hung service reported down')
                    except AssertionError:
                        if meaningful:
                            print('services-latency: WARNING: this agent never answers "hung" '
                                  'with "down" (reply %r): it does not probe services by name '
                                  '(issue 17 not landed?); the numbers below are not meaningful'
                                  % ask(a.addr, a.port, 'hung'), flush=True)
                        meaningful = False
                lat, errors = measure(a)
            finally:
                a.stop()
            if not lat:
                print('services-latency: %s round %d: no reply at all (%d errors)'
                      % (label, r, errors), file=sys.stderr)
                status = 1
                continue
            p99 = percentile(lat, 99)
            p99s[label].append(p99)
            print('%-6s round %d: probes/s %7.0f  p50 %7.0f us  p99 %7.0f us  max %8.0f us  '
                  'errors %d' % (label, r, len(lat) / DURATION, percentile(lat, 50) * 1e6,
                                 p99 * 1e6, max(lat) * 1e6, errors), flush=True)
            if errors:
                status = 1
    nova.stop()
    hung.stop()
    if not p99s['single'] or not p99s['ten']:
        die('no numbers')
    s, t = statistics.median(p99s['single']), statistics.median(p99s['ten'])
    ratio = t / s if s > 0 else 0.0
    ok = ratio <= TARGET
    print('\n== p99 reply latency of nova-api (median of rounds): 1 healthy service %.1f us, '
          '10 services with one hung %.1f us, ten/single %.2f (target <= %.2f): %s%s' % (
              s * 1e6, t * 1e6, ratio, TARGET, 'OK' if ok else 'OVER TARGET',
              '' if meaningful else ' (NOT MEANINGFUL: see the warning above)'), flush=True)
    if STRICT and not ok:
        status = 1
    sys.exit(status)


if __name__ == '__main__':
    main()
