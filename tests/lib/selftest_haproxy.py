#!/usr/bin/python3
"""Self-test of tests/lib/haproxy.py and testutil.py against the real HAProxy 2.6.

    /usr/bin/python3 tests/lib/selftest_haproxy.py [-v] [unittest args]

Runs real haproxy processes on 127.0.0.x with AgentResponder threads as agents and
HttpStub threads as nova-api (ports from free_port(), on 127.0.0.1, .11-.16 and .41, not on
etcd's fixed 127.0.0.21-27). CTest: selftest_haproxy (tests/lib/CMakeLists.txt). Environment:
  ZDU_KEEP_TMP=1               keep the temp dirs (configs, logs, sockets)
  ZDU_SAVE_HAPROXY_DATA=DIR    write show-stat-2.6.csv (with a 'DRAIN (agent)' server)
                               and show-servers-state-2.6.txt into DIR
  ZDU_TIMING_SAMPLES=N         samples for the reply-change -> show-stat latency test (5)
"""

import http.client
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from testutil import (HttpStub, Proc, WaitTimeout, agent_probe, check_holds,  # noqa: E402
                      check_within, free_port, tempdir, wait_until)
from haproxy import (AgentResponder, HAProxy, base_status, parse_servers_state,  # noqa: E402
                     parse_show_stat)

INTER_MS = 500
T = 5.0  # generous wait for one agent interval on a loaded machine


def http_get(addr, port, path='/'):
    c = http.client.HTTPConnection(addr, port, timeout=5)
    try:
        c.request('GET', path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


class TestTestutil(unittest.TestCase):
    def test_free_port_and_loopback_only(self):
        p = free_port('127.0.0.41')
        self.assertTrue(1024 <= p <= 65535)
        with self.assertRaises(ValueError):
            free_port('192.0.2.1')

    def test_wait_until(self):
        t0 = time.monotonic()
        self.assertEqual(wait_until(lambda: time.monotonic() - t0 > 0.1 and 'ok', 2, 0.01), 'ok')
        with self.assertRaises(WaitTimeout) as cm:
            wait_until(lambda: 1 / 0, timeout=0.1, interval=0.02, message='the impossible')
        self.assertIn('the impossible', str(cm.exception))
        self.assertIn('ZeroDivisionError', str(cm.exception))

    def test_check_within(self):
        t0 = time.monotonic()
        self.assertEqual(check_within(lambda: time.monotonic() - t0 > 0.1 and 'v', 2, 'soon',
                                      interval=0.01), 'v')
        with self.assertRaises(WaitTimeout) as cm:
            check_within(lambda: 1 / 0, 0.1, 'the impossible', detail=lambda: 'the detail',
                         interval=0.02)
        for part in ('the impossible: not within 0.1 s', "'the detail'", 'ZeroDivisionError'):
            self.assertIn(part, str(cm.exception))
        self.assertIsInstance(cm.exception, AssertionError)

    def test_check_holds(self):
        self.assertGreaterEqual(check_holds(lambda: True, 0.1, 'steady', interval=0.02), 2)
        t0 = time.monotonic()
        with self.assertRaises(AssertionError) as cm:
            check_holds(lambda: time.monotonic() - t0 < 0.1, 2, 'breaks', detail='why',
                        interval=0.01)
        self.assertLess(time.monotonic() - t0, 1)   # at the first false value, not at the end
        self.assertIn("breaks: broken after", str(cm.exception))
        self.assertIn("'why'", str(cm.exception))
        with self.assertRaises(ZeroDivisionError):     # an exception is not "not yet" here
            check_holds(lambda: 1 / 0, 1, 'raises')

    def test_proc_and_tempdir(self):
        d = tempdir()
        log = os.path.join(d, 'sub', 'p.log')
        p = Proc(['/bin/sh', '-c', 'echo hello; echo oops >&2; exec sleep 30'], log)
        wait_until(lambda: 'oops' in p.log_text(), 2)
        self.assertTrue(p.alive())
        self.assertEqual(p.stop(timeout=2), -15)
        self.assertIn('hello', p.log_tail())

    def test_agent_probe(self):
        with AgentResponder('127.0.0.41', line='up drain #maintenance: upgrade') as a:
            reply, secs = agent_probe(a.addr, a.port)
            self.assertEqual(reply, b'up drain #maintenance: upgrade\n')
            self.assertLess(secs, 1)
            a.delay, a.line = 1.0, 'up'
            with self.assertRaises(TimeoutError):
                agent_probe(a.addr, a.port, timeout=0.3)
        with AgentResponder('127.0.0.41', read_send=True, line='x') as a:
            self.assertEqual(agent_probe(a.addr, a.port, send=b'nova\n')[0], b'x\n')
            self.assertEqual(a.received, [b'nova\n'])


class TestConfig(unittest.TestCase):
    def test_config_text_is_valid(self):
        d = tempdir()
        lb = HAProxy(d, servers=[dict(name='node1', addr='127.0.0.11', port=8774, agent_port=9777,
                                      agent_addr='127.0.0.12', agent_send='hello\n',
                                      options='rise 1 fall 1')],
                     frontend=('127.0.0.1', 18774))
        text = lb.config_text()
        self.assertIn('stats socket %s mode 600 level admin' % lb.sock_path, text)
        self.assertIn('option http-server-close', text)
        self.assertIn('    server node1 127.0.0.11:8774 weight 100 check inter 500ms agent-check '
                      'agent-port 9777 agent-inter 500ms agent-addr 127.0.0.12 '
                      'agent-send "hello\\n" rise 1 fall 1', text)
        lb.write_config()
        r = subprocess.run([lb.haproxy_bin, '-c', '-f', lb.cfg_path], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_bad_config_start_raises_with_log(self):
        lb = HAProxy(tempdir(), extra_defaults=['no-such-keyword 1'])
        with self.assertRaises(RuntimeError) as cm:
            lb.start()
        self.assertIn('no-such-keyword', str(cm.exception))

    def test_rejects_non_loopback(self):
        with self.assertRaises(ValueError):
            HAProxy(tempdir(), servers=[dict(name='n', addr='10.1.2.3')])

    def test_parsers(self):
        rows = parse_show_stat('# pxname,svname,status,weight,\nbe,s1,DRAIN (agent),100,\n\n')
        self.assertEqual(rows, [dict(pxname='be', svname='s1', status='DRAIN (agent)',
                                     weight='100')])
        st = parse_servers_state('1\n# be_id be_name srv_name srv_admin_state\n2 be s1 8\n\n')
        self.assertEqual(st, [dict(be_id='2', be_name='be', srv_name='s1', srv_admin_state='8')])
        self.assertEqual(base_status('UP 1/3'), 'UP')
        self.assertEqual(base_status('DRAIN (agent)'), 'DRAIN (agent)')


class TestAgentWithCheck(unittest.TestCase):
    """Two nodes with a live nova-api stand-in (so `check` passes) and an agent each."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempdir()
        cls.nova = [HttpStub('127.0.0.11', body='node1\n'), HttpStub('127.0.0.12', body='node2\n')]
        cls.agents = [AgentResponder('127.0.0.11'), AgentResponder('127.0.0.12')]
        cls.fe_port = free_port('127.0.0.1')
        servers = [dict(name='node%d' % (i + 1), addr=n.addr, port=n.port, agent_port=a.port)
                   for i, (n, a) in enumerate(zip(cls.nova, cls.agents))]
        cls.lb = HAProxy(cls.dir, servers=servers, frontend=('127.0.0.1', cls.fe_port),
                         agent_inter_ms=INTER_MS, check=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.lb.stop()
        for x in cls.agents + cls.nova:
            x.close()

    def setUp(self):
        for a in self.agents:
            a.set('up ready 100%')
        for n in ('node1', 'node2'):
            self.lb.wait_server(n, {'status': 'UP', 'weight': 100}, timeout=T)

    def say(self, line, node='node1'):
        self.agents[int(node[-1]) - 1].set(line)

    def test_up_ready(self):
        row = self.lb.server('node1')
        self.assertEqual((row['status'], row['weight'], row['agent_status'], row['check_status']),
                         ('UP', '100', 'L7OK', 'L4OK'))

    def test_up_drain(self):
        self.say('up drain #maintenance: upgrade')
        row = self.lb.wait_server('node1', 'DRAIN (agent)', timeout=T)
        self.assertEqual(self.lb.server_is('node1', 'DRAIN (agent)')['svname'], 'node1')
        self.assertIsNone(self.lb.server_is('node1', {'status': 'UP'}))
        self.assertIn("status='DRAIN (agent)', weight='100'", self.lb.describe('node1'))
        self.assertEqual(row['weight'], '100')
        self.assertEqual(row['last_agt'], 'via agent : up (maintenance: upgrade)')
        st = {r['srv_name']: r for r in self.lb.servers_state()}
        self.assertEqual(st['node1']['srv_admin_state'], '8')   # SRV_ADMF_FDRAIN (maint: 1)
        self.assertEqual(st['node1']['srv_op_state'], '2')
        save = os.environ.get('ZDU_SAVE_HAPROXY_DATA')
        if save:
            os.makedirs(save, exist_ok=True)
            with open(os.path.join(save, 'show-stat-2.6.csv'), 'w') as f:
                f.write(self.lb.runtime('show stat'))
            with open(os.path.join(save, 'show-servers-state-2.6.txt'), 'w') as f:
                f.write(self.lb.runtime('show servers state'))
        # new requests all go to node2 (http-server-close: every request is balanced afresh)
        for _ in range(6):
            self.assertEqual(http_get('127.0.0.1', self.fe_port), (200, b'node2\n'))
        wait_until(lambda: self.nova[1].open_conns == 0, 2, message='node2 idle connections')

    def test_drain_0_maint_percent_down(self):
        cases = [('drain 0%', {'status': 'DRAIN (agent)', 'weight': 0}),
                 ('up ready 37%', {'status': 'UP', 'weight': 37}),
                 ('maint #hard', {'status': 'MAINT'}),
                 ('up ready 100%', lambda r: base_status(r['status']) == 'UP'),
                 ('down ready #nova-api: connection refused', {'status': 'DOWN (agent)'}),
                 ('up ready 100%', {'status': 'UP'}),
                 ('ready up 50%', {'status': 'UP', 'weight': 50}),
                 ('garbage words', {'agent_status': 'CHECKED', 'status': 'UP', 'weight': 50})]
        for line, want in cases:
            self.say(line)
            self.lb.wait_server('node1', want, timeout=T)

    def test_agent_gone_keeps_state(self):
        self.say('up drain #x')
        self.lb.wait_server('node1', 'DRAIN (agent)', timeout=T)
        a = self.agents[0]
        a.close()
        try:
            row = self.lb.wait_server('node1', {'agent_status': 'L4CON'}, timeout=T)
            self.assertEqual(row['status'], 'DRAIN (agent)')
            time.sleep(3 * INTER_MS / 1000)
            self.assertEqual(self.lb.server('node1')['status'], 'DRAIN (agent)')
        finally:
            self.agents[0] = AgentResponder(a.addr, a.port)

    def test_runtime_api_and_disable_agent(self):
        out = self.lb.runtime('show info;show stat')
        self.assertIn('Name: HAProxy', out)
        self.assertIn('# pxname,svname,', out)
        # the agent asserts 'ready': an operator's drain is undone at its next reply
        self.lb.set_state('node1', 'drain')
        self.assertEqual(self.lb.server('node1')['status'], 'DRAIN (agent)')
        self.lb.wait_server('node1', 'UP', timeout=T)
        # with the agent disabled, the runtime API wins
        self.lb.disable_agent('node1')
        try:
            self.lb.set_state('node1', 'drain')
            time.sleep(3 * INTER_MS / 1000)
            # ' (agent)' is only printed while the agent check is enabled
            self.assertEqual(self.lb.server('node1')['status'], 'DRAIN')
        finally:
            self.lb.enable_agent('node1')
        self.lb.wait_server('node1', 'UP', timeout=T)
        with self.assertRaises(RuntimeError):
            self.lb.admin('set server nova-api/nosuch state drain')

    def test_wait_server_timeout_message(self):
        with self.assertRaises(WaitTimeout) as cm:
            self.lb.wait_server('node1', 'MAINT', timeout=0.3)
        msg = str(cm.exception)
        for piece in ("nova-api/node1 status 'MAINT'", "status='UP'", "weight='100'", 'agent_desc='):
            self.assertIn(piece, msg)
        # a check in progress shows "* " before its status (seen with HAProxy 3.0)
        for piece in (r"agent_status='(\* )?L7OK'", r"check_status='(\* )?L4OK'"):
            self.assertRegex(msg, piece)

    def test_timing_reply_change_to_show_stat(self):
        """Agent reply change -> show stat status change, sampled; printed for the report."""
        n = int(os.environ.get('ZDU_TIMING_SAMPLES', '5'))
        samples = []
        for i in range(n):
            time.sleep((i * 0.137) % (INTER_MS / 1000))   # vary the phase
            line, want = (('up drain #t', 'DRAIN (agent)') if i % 2 == 0
                          else ('up ready 100%', 'UP'))
            hits_before = len(self.agents[0].hits)
            t0 = self.agents[0].set(line)
            self.lb.wait_server('node1', want, timeout=T, interval=0.005)
            t1 = time.monotonic()
            hit = self.agents[0].hits[hits_before] if len(self.agents[0].hits) > hits_before else t1
            samples.append((t1 - t0, t1 - hit))
        total = [s[0] * 1000 for s in samples]
        after = [s[1] * 1000 for s in samples]
        sys.stderr.write('\n  agent-inter %dms, %d samples: change->show stat ms %s '
                         '(min %.0f max %.0f mean %.0f); agent connect->show stat ms max %.0f\n'
                         % (INTER_MS, n, [round(x) for x in total], min(total), max(total),
                            sum(total) / n, max(after)))
        self.assertLess(max(total), 2 * INTER_MS + 500)


class TestAgentOnly(unittest.TestCase):
    """Servers with agent-check but no `check`, and servers whose regular check fails."""

    @classmethod
    def setUpClass(cls):
        cls.agents = [AgentResponder('127.0.0.13'), AgentResponder('127.0.0.14'),
                      AgentResponder('127.0.0.16')]
        dead = free_port('127.0.0.14')                      # nothing listens there
        cls.nova = HttpStub('127.0.0.15')
        servers = [dict(name='nocheck', addr='127.0.0.13', port=free_port('127.0.0.13'),
                        agent_port=cls.agents[0].port, check=False),
                   dict(name='deadcheck', addr='127.0.0.14', port=dead,
                        agent_port=cls.agents[1].port, check=True),
                   dict(name='agentaddr', addr='127.0.0.15', port=cls.nova.port,
                        agent_addr='127.0.0.16', agent_port=cls.agents[2].port, check=True)]
        cls.lb = HAProxy(tempdir(), servers=servers, agent_inter_ms=INTER_MS).start()

    @classmethod
    def tearDownClass(cls):
        cls.lb.stop()
        for a in cls.agents:
            a.close()
        cls.nova.close()

    def test_agent_runs_without_check(self):
        a = self.agents[0]
        row = self.lb.wait_server('nocheck', {'status': 'no check', 'agent_status': 'L7OK'}, T)
        self.assertEqual(row['check_status'], '')
        a.set('up drain #x')
        self.lb.wait_server('nocheck', 'DRAIN (agent)', T)
        a.set('down ready #nova-api: connection refused')
        self.lb.wait_server('nocheck', 'DOWN (agent)', T)
        a.set('up ready 25%')
        self.lb.wait_server('nocheck', {'status': 'no check', 'weight': 25}, T)
        a.set('up ready 100%')
        self.lb.wait_server('nocheck', {'status': 'no check', 'weight': 100}, T)

    def test_failed_check_agent_cannot_bring_up(self):
        a = self.agents[1]
        row = self.lb.wait_server('deadcheck', {'status': 'DOWN', 'check_status': 'L4CON',
                                                'agent_status': 'L7OK'}, T)
        self.assertEqual(row['last_agt'], 'via agent : up')
        a.set('up drain #x')     # admin state changes; show stat still says DOWN
        self.lb.wait_server('deadcheck', lambda r: any(
            s['srv_name'] == 'deadcheck' and s['srv_admin_state'] == '8'
            for s in self.lb.servers_state()), T)
        self.assertEqual(self.lb.server('deadcheck')['status'], 'DOWN')
        a.set('up ready 40%')
        self.lb.wait_server('deadcheck', {'status': 'DOWN', 'weight': 40}, T)

    def test_agent_addr(self):
        a = self.agents[2]
        self.lb.wait_server('agentaddr', {'status': 'UP', 'agent_status': 'L7OK'}, T)
        a.set('up drain #elsewhere')
        row = self.lb.wait_server('agentaddr', 'DRAIN (agent)', T)
        self.assertEqual(row['last_agt'], 'via agent : up (elsewhere)')
        st = {r['srv_name']: r for r in self.lb.servers_state()}
        self.assertEqual(st['agentaddr']['srv_agent_addr'], '127.0.0.16')


if __name__ == '__main__':
    unittest.main()
