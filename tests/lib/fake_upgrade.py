#!/usr/bin/python3
"""The upgrade command of coordinator tests: `fake_upgrade.py MAPFILE NODE [SERVICE...]`.

Records what every load balancer showed for NODE's server at the moment it ran (status and
current sessions), as one JSON line appended to map['record'], then "upgrades" the node: its
fake nova-api now advertises map['version']. A node listed in map['fail'] makes it exit 7
without upgrading (a failing upgrade). MAPFILE is JSON:
  {"lbs": ["/path/lb1.sock", ...], "record": "/path/record.jsonl", "version": "2.93",
   "fail": [], "nodes": {"node1": ["127.0.0.11", CONTROL_PORT], ...}}

With several services (a map with "services"), SERVICE names what to upgrade on NODE (several
words, or one word holding them separated by spaces, as the coordinator's {services}); none or
"all": every service of the node. The record then has, per load balancer, every backend of the
node's services: seen[lb][backend] = {status, scur}, and "services" the ones upgraded. A
"node/service" in fail fails that one. The map adds:
  "services": {"node1": {"nova-api": ["127.0.0.151", CONTROL_PORT], ...}, ...},
  "backends": {"nova-api": "nova-api", "placement-api": "placement-api"},
  "versions": {"nova-api": "2.93", "placement-api": "1.39"}
With "agent_down": true (one service), after recording it sends every load balancer `set server
nova-api/NODE agent down`, what an agent check during the restart would do, and records what they
show then as "after_down".
"""
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_nova import control  # noqa: E402
from haproxy import parse_show_stat  # noqa: E402


def runtime(sock_path, cmd):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(sock_path)
    s.sendall(cmd.encode() + b'\n')
    data = b''
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
    return data.decode()


def show_stat(sock_path):
    return parse_show_stat(runtime(sock_path, 'show stat'))


def main_services(mp, node, words):
    svcs = [w for arg in words for w in arg.split()]
    if not svcs or svcs == ['all']:
        svcs = list(mp['services'][node])
    seen = {}
    for path in mp['lbs']:
        rows = show_stat(path)
        per = seen.setdefault(os.path.basename(path), {})
        for svc in mp['services'][node]:
            be = mp['backends'][svc]
            r = [r for r in rows if r['svname'] == node and r['pxname'] == be]
            if r:
                per[be] = dict(status=r[0]['status'], scur=int(r[0]['scur'] or 0))
    with open(mp['record'], 'a') as f:
        f.write(json.dumps(dict(node=node, services=svcs, time=time.time(), seen=seen)) + '\n')
    print('upgrading %s %s: saw %s' % (node, ' '.join(svcs), json.dumps(seen)))
    for svc in svcs:
        if '%s/%s' % (node, svc) in mp.get('fail', []) or node in mp.get('fail', []):
            print('simulated failure of %s/%s' % (node, svc), file=sys.stderr)
            sys.exit(7)
    for svc in svcs:
        addr, port = mp['services'][node][svc]
        control(addr, port, 'mode healthy version=%s' % mp['versions'][svc])
        print('%s %s now at %s' % (node, svc, mp['versions'][svc]))


def look(mp, node):
    """What every load balancer shows for NODE's nova-api server: {lb: {status, scur}}."""
    seen = {}
    for path in mp['lbs']:
        rows = [r for r in show_stat(path) if r['svname'] == node and r['pxname'] == 'nova-api']
        seen[os.path.basename(path)] = dict(status=rows[0]['status'], scur=int(rows[0]['scur'] or 0))
    return seen


def main():
    mp = json.load(open(sys.argv[1]))
    node = sys.argv[2]
    if 'services' in mp:
        main_services(mp, node, sys.argv[3:])
        return
    seen = look(mp, node)
    rec = dict(node=node, time=time.time(), seen=seen)
    if mp.get('agent_down'):
        for path in mp['lbs']:
            out = runtime(path, 'set server nova-api/%s agent down' % node).strip()
            if out:
                print('%s: set server agent down: %s' % (path, out), file=sys.stderr)
                sys.exit(8)
        rec['after_down'] = look(mp, node)
    with open(mp['record'], 'a') as f:
        f.write(json.dumps(rec) + '\n')
    print('upgrading %s: saw %s' % (node, json.dumps(seen)))
    if node in mp.get('fail', []):
        print('simulated failure', file=sys.stderr)
        sys.exit(7)
    addr, port = mp['nodes'][node]
    control(addr, port, 'mode healthy version=%s' % mp['version'])
    print('%s now at %s' % (node, mp['version']))


if __name__ == '__main__':
    main()
