#!/usr/bin/python3
"""Client load for the end-to-end upgrade harness (Debian's /usr/bin/python3, stdlib only).

    loadgen.py --url http://127.0.0.1:PORT [--api nova|placement|glance] [--rate 300]
               [--streams 12] [--procs 3] [--duration S] [--records FILE] [--summary FILE]

Runs until DURATION seconds have passed or until SIGTERM/SIGINT, then prints (and writes to
SUMMARY) one JSON summary. STREAMS concurrent clients share the fixed total RATE (requests per
second); each behaves like a real nova client:

    repeat: GET /v2.1/          (no auth)  -> remember the advertised "version"
            GET /v2.1/flavors   X-Auth-Token: admin:admin,
                                OpenStack-API-Version: compute <newest version this stream saw>

(--api nova, the default). The other APIs of the control-plane e2e (controlplane.py), each the
same way, discovery then a request at the newest version seen:

    placement: GET /  -> versions[0].max_version;  GET /resource_providers  X-Auth-Token: admin,
               OpenStack-API-Version: placement <newest seen>          (noauth2: any token)
    glance:    GET /versions -> the CURRENT version's id (v2.16 -> 2.16);  GET /v2/images
               (no microversions: no version header; the pipeline without keystone)

One new TCP connection per request (http.client, timeout 5 s, no proxy). Each request is paced
on a fixed schedule (RATE/STREAMS per stream); a stream that falls more than one second behind
(a request that hung) restarts its schedule instead of bursting. The streams are spread over
PROCS worker processes (threads inside each) so that the GIL does not set the rate.

Every request is a record (JSON line in RECORDS): t (epoch start), s (stream), p (path),
st (HTTP status or null), err (null, or "connect", "reset", "timeout", "5xx", "other"),
lat (seconds), v (advertised version, discovery only), rq (requested version, flavors only),
reg (true when this discovery answer is lower than the newest version the stream saw before).

Summary keys: requests, failed (connect + reset + timeout + 5xx + other transport errors),
failed_by_kind, n406, other_status (non-2xx answers that are neither 406 nor 5xx), regressions,
regressed_streams, max_latency, p50_latency, p99_latency, achieved_rate, target_rate, duration,
start, end, versions_seen (discovery answers per version), first_failure / last_failure (epoch),
status (answers per HTTP status), streams, loadgen_cpu_s (CPU time of the worker processes).
"""

import argparse
import http.client
import json
import math
import multiprocessing
import os
import resource
import signal
import socket
import sys
import threading
import time
import urllib.parse

TIMEOUT = 5.0


def _nova_version(doc):
    return doc['version']['version']


def _placement_version(doc):
    return doc['versions'][0]['max_version']


def _glance_version(doc):
    cur = [v['id'] for v in doc['versions'] if v.get('status') == 'CURRENT']
    return cur[0].lstrip('v') if cur else None


# discovery path, its version, the request, its auth token, the OpenStack-API-Version service
# (None: no header), the version asked before any was seen
APIS = {
    'nova': dict(doc='/v2.1/', version=_nova_version, path='/v2.1/flavors', token='admin:admin',
                 service='compute', floor='2.1'),
    'placement': dict(doc='/', version=_placement_version, path='/resource_providers',
                      token='admin', service='placement', floor='1.0'),
    'glance': dict(doc='/versions', version=_glance_version, path='/v2/images', token=None,
                   service=None, floor=None),
}


def vkey(v):
    """'2.93' -> (2, 93); anything else -> None."""
    try:
        a, b = v.split('.')
        return int(a), int(b)
    except (AttributeError, ValueError):
        return None


def one_request(host, port, path, headers):
    """-> (status or None, error kind or None, body bytes)."""
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    try:
        try:
            conn.connect()
        except OSError:
            return None, 'connect', b''
        try:
            conn.request('GET', path, headers=headers)
            r = conn.getresponse()
            body = r.read()
        except socket.timeout:
            return None, 'timeout', b''
        except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected,
                http.client.IncompleteRead, http.client.BadStatusLine):
            return None, 'reset', b''
        except (OSError, http.client.HTTPException):
            return None, 'other', b''
        if r.status >= 500:
            return r.status, '5xx', body
        return r.status, None, body
    finally:
        conn.close()


class Stream:
    def __init__(self, idx, host, port, period, offset, stop, out, api='nova'):
        self.api = APIS[api]
        self.idx, self.host, self.port = idx, host, port
        self.period, self.offset = period, offset
        self.stop, self.out = stop, out
        self.best = None          # newest version seen, as (2, 93)
        self.best_text = None

    def record(self, t0, m0, path, status, err, **extra):
        rec = dict(t=round(t0, 4), s=self.idx, p=path, st=status, err=err,
                   lat=round(time.monotonic() - m0, 5))
        rec.update(extra)
        self.out.append(rec)

    def discover(self):
        t0, m0 = time.time(), time.monotonic()
        doc = self.api['doc']
        status, err, body = one_request(self.host, self.port, doc, {'Connection': 'close'})
        v, reg = None, False
        if status == 200:
            try:
                v = self.api['version'](json.loads(body))
            except (ValueError, KeyError, TypeError, IndexError, AttributeError):
                err = err or 'other'
        k = vkey(v)
        if k is not None:
            reg = self.best is not None and k < self.best
            if self.best is None or k > self.best:
                self.best, self.best_text = k, v
        self.record(t0, m0, doc, status, err, v=v, reg=reg)

    def flavors(self):
        """The request at the newest version seen (nova: GET /v2.1/flavors)."""
        a = self.api
        headers = {'Connection': 'close'}
        if a['token']:
            headers['X-Auth-Token'] = a['token']
        want = None
        if a['service']:
            want = self.best_text or a['floor']
            headers['OpenStack-API-Version'] = '%s %s' % (a['service'], want)
        t0, m0 = time.time(), time.monotonic()
        status, err, _ = one_request(self.host, self.port, a['path'], headers)
        self.record(t0, m0, a['path'], status, err, rq=want)

    def run(self):
        nxt = time.monotonic() + self.offset
        steps = (self.discover, self.flavors)
        i = 0
        while not self.stop.is_set():
            now = time.monotonic()
            if nxt > now:
                if self.stop.wait(nxt - now):
                    break
            elif now - nxt > 1.0:
                nxt = now
            steps[i % 2]()
            i += 1
            nxt += self.period


def worker(streams, host, port, period, n_streams, stop, path, api='nova'):
    try:                          # die with the parent even if it is killed
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)      # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # the parent decides when to stop
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    tstop = threading.Event()
    out = []
    threads = []
    for idx in streams:
        st = Stream(idx, host, port, period, period * idx / n_streams, tstop, out, api)
        th = threading.Thread(target=st.run, daemon=True)
        th.start()
        threads.append(th)
    stop.wait()
    tstop.set()
    for th in threads:
        th.join(TIMEOUT + 2)
    with open(path, 'w') as f:
        for rec in out:
            f.write(json.dumps(rec, separators=(',', ':')) + '\n')


def percentile(sorted_vals, q):
    if not sorted_vals:
        return 0.0
    i = min(len(sorted_vals) - 1, max(0, int(math.ceil(q * len(sorted_vals))) - 1))
    return sorted_vals[i]


def summarize(records, target_rate):
    s = dict(requests=len(records), failed=0, n406=0, other_status=0, regressions=0,
             failed_by_kind={}, status={}, versions_seen={}, target_rate=target_rate)
    regressed = set()
    fails = []
    for r in records:
        if r['st'] is not None:
            s['status'][str(r['st'])] = s['status'].get(str(r['st']), 0) + 1
        if r['err']:
            s['failed'] += 1
            s['failed_by_kind'][r['err']] = s['failed_by_kind'].get(r['err'], 0) + 1
            fails.append(r['t'])
        elif r['st'] == 406:
            s['n406'] += 1
        elif r['st'] is not None and not 200 <= r['st'] < 300:
            s['other_status'] += 1
        if r.get('v'):
            s['versions_seen'][r['v']] = s['versions_seen'].get(r['v'], 0) + 1
        if r.get('reg'):
            s['regressions'] += 1
            regressed.add(r['s'])
    lats = sorted(r['lat'] for r in records)
    s['regressed_streams'] = len(regressed)
    s['max_latency'] = round(lats[-1], 4) if lats else 0.0
    s['p50_latency'] = round(percentile(lats, 0.50), 4)
    s['p99_latency'] = round(percentile(lats, 0.99), 4)
    if records:
        start = min(r['t'] for r in records)
        end = max(r['t'] + r['lat'] for r in records)
        s['start'], s['end'] = start, end
        s['duration'] = round(end - start, 3)
        s['achieved_rate'] = round(len(records) / (end - start), 1) if end > start else 0.0
    else:
        s.update(start=None, end=None, duration=0.0, achieved_rate=0.0)
    s['first_failure'] = min(fails) if fails else None
    s['last_failure'] = max(fails) if fails else None
    return s


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--url', required=True, help='http://HOST:PORT of the load balancer')
    ap.add_argument('--api', choices=sorted(APIS), default='nova')
    ap.add_argument('--rate', type=float, default=300.0)
    ap.add_argument('--streams', type=int, default=24)
    ap.add_argument('--procs', type=int, default=3)
    ap.add_argument('--duration', type=float, default=0.0, help='0: until SIGTERM/SIGINT')
    ap.add_argument('--records', default='')
    ap.add_argument('--summary', default='')
    a = ap.parse_args(argv)
    u = urllib.parse.urlsplit(a.url)
    host, port = u.hostname, u.port or 80
    if not host.startswith('127.'):
        ap.error('loopback addresses only')
    for k in ('http_proxy', 'HTTP_PROXY', 'no_proxy', 'NO_PROXY'):
        os.environ.pop(k, None)
    period = a.streams / a.rate
    procs = max(1, min(a.procs, a.streams))
    ctx = multiprocessing.get_context('fork')
    stop = ctx.Event()
    tmpbase = (a.records or os.path.join('/tmp', 'loadgen-%d' % os.getpid())) + '.part'
    parts, workers = [], []
    for w in range(procs):
        path = '%s%d' % (tmpbase, w)
        parts.append(path)
        p = ctx.Process(target=worker, args=(list(range(w, a.streams, procs)), host, port, period,
                                             a.streams, stop, path, a.api), daemon=True)
        p.start()
        workers.append(p)

    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    print('loadgen: %s, %d streams in %d processes, %.0f req/s to %s' % (a.api, a.streams, procs,
                                                                          a.rate, a.url),
          file=sys.stderr, flush=True)
    while not done.is_set():
        done.wait(a.duration if a.duration > 0 else 3600)
        if a.duration > 0:
            break
    stop.set()
    records = []
    for p, path in zip(workers, parts):
        p.join(TIMEOUT + 10)
        if p.is_alive():
            p.kill()
        try:
            with open(path) as f:
                records.extend(json.loads(line) for line in f)
            os.unlink(path)
        except OSError as e:
            print('loadgen: worker output %s: %s' % (path, e), file=sys.stderr)
    records.sort(key=lambda r: r['t'])
    if a.records:
        with open(a.records, 'w') as f:
            for r in records:
                f.write(json.dumps(r, separators=(',', ':')) + '\n')
    s = summarize(records, a.rate)
    s['streams'] = a.streams
    s['api'] = a.api
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    s['loadgen_cpu_s'] = round(ru.ru_utime + ru.ru_stime, 2)
    text = json.dumps(s, indent=1, sort_keys=True)
    if a.summary:
        with open(a.summary + '.tmp', 'w') as f:
            f.write(text + '\n')
        os.rename(a.summary + '.tmp', a.summary)
    print(text, flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
