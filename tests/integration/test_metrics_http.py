#!/usr/bin/python3
"""metrics.listen: GET /metrics on the agent's loop, bounded, and the agent-check replies
unaffected by abusive HTTP clients (as the control socket's tests do for its socket).

  1. GET /metrics: 200, Prometheus's content type, a body promtool accepts, the current
     reply in it; HEAD too; other paths 404, other methods 405.
  2. Slow loris: metrics.max_clients (4) connections each sending a header byte every 0.3 s.
     While they hang, 100 agent-check probes are answered, each within 50 ms. A byte every
     0.3 s never lets libmicrohttpd's idle timeout fire: the agent's own bound on a request's
     whole time, metrics.timeout_ms (1 s), cuts them within 2.5 s; /metrics answers again.
  3. Oversize: one request with 64 KiB of headers (metrics.max_request_bytes 4096) gets 431
     or is closed, never served; the next request is answered.
  4. Many clients: 200 idle connections at once: the agent-check replies stay fast, and once
     they are gone /metrics answers.
  5. SIGHUP with another metrics.listen port: the new one answers, the old one is closed; a
     reload that leaves the metrics settings alone keeps the endpoint (same port, no gap).
  6. A bad metrics.listen is an error at start naming the key.
"""
import socket
import threading
import time

from agentlib import Agent, check, main
from metricslib import get, parse, promtool, promtool_check, value
from testutil import agent_probe, check_within, free_port

ADDR = '127.0.0.72'


def probes_fast(a, n, bound):
    """N agent-check probes, each answered within BOUND s; returns the slowest."""
    worst = 0.0
    for _ in range(n):
        reply, secs = agent_probe(a.addr, a.port, timeout=2.0)
        if not reply.startswith(b'up ready'):
            raise AssertionError('agent reply %r' % reply)
        worst = max(worst, secs)
    check(worst < bound, '%d agent-check replies during the abuse, slowest %.1f ms (< %d ms)'
          % (n, worst * 1000, bound * 1000))
    return worst


def metrics_ok(port):
    status, _, body = get(ADDR, port, timeout=2.0)
    return status == 200 and 'zdu_agent_build_info' in body


def test():
    port = free_port(ADDR)
    a = Agent(addr=ADDR, settings={'metrics': {'listen': '%s:%d' % (ADDR, port), 'max_clients': 4,
                                               'timeout_ms': 1000, 'max_request_bytes': 4096}})
    a.start()

    # 1. the endpoint
    status, headers, body = get(ADDR, port)
    check(status == 200, 'GET /metrics: 200', (status, body[:200]))
    check(headers.get('Content-Type', '').startswith('text/plain; version=0.0.4'),
          'Prometheus text content type', headers)
    s = parse(body)
    check(value(s, 'zdu_agent_reply_administrative', service='nova-api', state='ready') == 1,
          'the reply "up ready" in the metrics')
    if promtool():
        ok, out = promtool_check(body)
        check(ok, 'promtool check metrics accepts GET /metrics', out)
    status, _, body = get(ADDR, port, method='HEAD')
    check(status == 200 and body == '', 'HEAD /metrics: 200, no body', (status, body[:80]))
    check(get(ADDR, port, path='/')[0] == 404, 'GET /: 404')
    check(get(ADDR, port, method='POST')[0] == 405, 'POST /metrics: 405')

    # 2. slow loris
    stop = threading.Event()
    closed = []

    def loris(i):
        s = socket.create_connection((ADDR, port), timeout=5)
        t0 = time.monotonic()
        req = b'GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ' + b'a' * 100
        try:
            for byte in req:
                if stop.is_set():
                    break
                s.sendall(bytes([byte]))
                time.sleep(0.3)
        except OSError:
            pass
        try:
            s.settimeout(max(0.1, 8 - (time.monotonic() - t0)))
            s.recv(1)   # EOF (or a reset) when the server cuts it
        except OSError:
            pass
        closed.append(time.monotonic() - t0)
        s.close()
    threads = [threading.Thread(target=loris, args=(i,), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    probes_fast(a, 100, 0.05)
    check_within(lambda: len(closed) == 4, 6, 'the 4 slow clients cut by metrics.timeout_ms',
                 lambda: closed)
    check(max(closed) < 2.5, 'each cut within 2.5 s (metrics.timeout_ms 1 s): %s'
          % ['%.2f' % c for c in closed])
    check(a.status()['metrics']['cut'] >= 4, 'status counts the cut clients',
          a.status()['metrics'])
    stop.set()
    check_within(lambda: metrics_ok(port), 3, '/metrics answers after the slow clients')

    # 3. oversize headers
    s = socket.create_connection((ADDR, port), timeout=5)
    answer = b''
    try:
        s.sendall(b'GET /metrics HTTP/1.1\r\nHost: x\r\n')
        for i in range(64):
            s.sendall(b'X-Big-%d: %s\r\n' % (i, b'b' * 1000))
        s.sendall(b'\r\n')
    except OSError:
        pass
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    except OSError:
        pass
    s.close()
    print('answer to the oversize request: %r' % answer[:60])
    check(b'zdu_agent_build_info' not in answer and
          (answer == b'' or answer.split(b'\r\n')[0].split()[1] in (b'431', b'413', b'400')),
          'a request with 64 KiB of headers is refused, never served', answer[:120])
    check_within(lambda: metrics_ok(port), 3, '/metrics answers after the oversize request')

    # 4. many clients
    many = []
    for _ in range(200):
        try:
            many.append(socket.create_connection((ADDR, port), timeout=2))
        except OSError:
            break
    print('opened %d idle connections' % len(many))
    probes_fast(a, 100, 0.05)
    for c in many:
        c.close()
    check_within(lambda: metrics_ok(port), 4, '/metrics answers once the idle clients are gone')
    st = a.status()['metrics']
    check(st['requests'] >= 5 and st['listen'] == '%s:%d' % (ADDR, port), 'status: metrics', st)
    check(a.running(), 'the agent is still running')

    # 5. reload
    port2 = free_port(ADDR)
    a.settings['metrics']['listen'] = '%s:%d' % (ADDR, port2)
    a.write_config()
    start = a.log_size()
    a.hup()
    a.wait_log('configuration reloaded', start=start)
    check(metrics_ok(port2), 'after SIGHUP the new metrics.listen port answers')
    try:
        socket.create_connection((ADDR, port), timeout=1).close()
        refused = False
    except OSError:
        refused = True
    check(refused, 'the old port is closed')
    before = a.status()['metrics']['requests']
    a.settings['agent'] = {'weight': 50}
    a.write_config()
    start = a.log_size()
    a.hup()
    a.wait_log('configuration reloaded', start=start)
    check(metrics_ok(port2) and a.status()['metrics']['requests'] == before + 1,
          'a reload without metrics changes keeps the endpoint (its request count goes on)',
          (before, a.status()['metrics']))
    a.stop()

    # 6. a bad address
    b = Agent(addr=ADDR, name='b', settings={'metrics': {'listen': 'nowhere'}})
    r = b.run_foreground(timeout=10)
    out = (r.stdout or '') + (r.stderr or '') + b.log_text()
    check(r.returncode != 0 and 'metrics.listen' in out, 'a bad metrics.listen stops the start',
          out[-400:])


if __name__ == '__main__':
    main(test)
