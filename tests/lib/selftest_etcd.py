#!/usr/bin/python3
"""Self-test of tests/lib/etcdlib.py against the real etcd 3.4 (Debian's etcd-server).

    /usr/bin/python3 tests/lib/selftest_etcd.py [-v] [unittest args]

One 3-member cluster on 127.0.0.21-23 (ZDU_ETCD_ADDRS=a,b,c for other loopback addresses):
put/get/delete/prefix, leases, one member stopped and the others still taking writes, that
member restarted with its data (it catches up), compaction (an old revision can no longer
be read), every member stopped and started again with the data kept, a stale etcd of ours
detected and killed, and someone else's process on the addresses refused with a clear error.
ZDU_KEEP_TMP=1 keeps the data dirs and logs.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import etcdlib  # noqa: E402
from etcdlib import ADDRS, CLIENT_PORT, EtcdCluster, EtcdError, b64, unb64  # noqa: E402
from testutil import tempdir, wait_until  # noqa: E402


class TestHelpers(unittest.TestCase):
    def test_b64_and_prefix_end(self):
        self.assertEqual(b64('a/b'), 'YS9i')
        self.assertEqual(unb64('YS9i'), b'a/b')
        self.assertEqual(etcdlib._prefix_end('/zdu/'), b'/zdu0')
        self.assertEqual(etcdlib._prefix_end(b'a\xff'), b'b')

    def test_hexaddr(self):
        self.assertEqual(etcdlib._hexaddr('127.0.0.21', 2379), '1500007F:094B')

    def test_loopback_only(self):
        for a in ADDRS:
            etcdlib.check_loopback(a)


class TestCluster(unittest.TestCase):
    """Runs in order (unittest sorts by name): test_1_..., test_2_..."""

    @classmethod
    def setUpClass(cls):
        t0 = time.monotonic()
        cls.ec = EtcdCluster(tempdir('zdu-etcd-selftest-'))
        print('\ncluster of %d up and healthy in %.2fs: %s' % (
            len(cls.ec.members), time.monotonic() - t0, ' '.join(cls.ec.endpoints)), flush=True)

    @classmethod
    def tearDownClass(cls):
        cls.ec.close()

    def test_1_kv(self):
        ec = self.ec
        self.assertEqual(ec.endpoints, ['http://%s:%d' % (a, CLIENT_PORT) for a in ADDRS[:3]])
        self.assertIsNone(ec.get('/zdu/maintenance/nodes/n1'))
        r1 = ec.put('/zdu/maintenance/nodes/n1', 'mode=drain\nreason=selftest\n')
        self.assertEqual(ec.get('/zdu/maintenance/nodes/n1'), b'mode=drain\nreason=selftest\n')
        self.assertEqual(ec.revision(), r1)
        raw = b'\x00\xff garbage'
        ec.put('/zdu/maintenance/all', raw)
        self.assertEqual(ec.get('/zdu/maintenance/all'), raw)
        kv = ec.get_kv('/zdu/maintenance/all')
        self.assertEqual(kv['key'], '/zdu/maintenance/all')
        self.assertEqual(kv['version'], 1)
        self.assertGreater(kv['mod_revision'], r1)
        self.assertEqual(sorted(ec.get_prefix('/zdu/maintenance/')),
                         ['/zdu/maintenance/all', '/zdu/maintenance/nodes/n1'])
        self.assertEqual(ec.delete('/zdu/maintenance/all'), 1)
        self.assertEqual(ec.delete('/zdu/maintenance/all'), 0)
        self.assertIsNone(ec.get('/zdu/maintenance/all'))
        # every member answers reads of the same data
        for m in ec.members:
            self.assertEqual(ec.get('/zdu/maintenance/nodes/n1', endpoint=m.index),
                             b'mode=drain\nreason=selftest\n')
        self.assertIn(ec.leader(), (1, 2, 3))

    def test_2_lease(self):
        ec = self.ec
        lease = ec.lease_grant(2)
        self.assertGreater(lease, 0)
        ec.put('/zdu/agents/n9', '{"reply":"up ready 100%"}', lease=lease)
        self.assertEqual(ec.get_kv('/zdu/agents/n9')['lease'], lease)
        self.assertIn(ec.lease_ttl(lease), (1, 2))
        t0 = time.monotonic()
        wait_until(lambda: ec.get('/zdu/agents/n9') is None, timeout=6, interval=0.1,
                   message='leased key gone')
        print('\nleased key (ttl 2) gone %.2fs after the put' % (time.monotonic() - t0))
        self.assertEqual(ec.lease_ttl(lease), -1)
        lease = ec.lease_grant(30)
        ec.put('/zdu/agents/n8', 'x', lease=lease)
        ec.lease_revoke(lease)
        self.assertIsNone(ec.get('/zdu/agents/n8'))

    def test_3_member_down_and_back(self):
        ec = self.ec
        rc = ec.stop_member(1)
        self.assertFalse(ec.running(1))
        print('\nm1 stopped (exit %s)' % rc)
        self.assertEqual(ec.live_endpoints(), ec.endpoints[1:])
        with self.assertRaises(EtcdError):
            ec.get('/x', endpoint=1, timeout=0.5)
        t0 = time.monotonic()
        rev = ec.put('/zdu/maintenance/nodes/n1', 'mode=drain\nreason=while m1 down\n')
        print('put with m1 down took %.3fs (rev %d)' % (time.monotonic() - t0, rev))
        for i in (2, 3):
            self.assertEqual(ec.get('/zdu/maintenance/nodes/n1', endpoint=i),
                             b'mode=drain\nreason=while m1 down\n')
        ec.start_member('m1')
        t0 = time.monotonic()
        ec.wait_healthy()
        print('m1 back and healthy in %.2fs' % (time.monotonic() - t0))
        self.assertEqual(ec.get('/zdu/maintenance/nodes/n1', endpoint=1),
                         b'mode=drain\nreason=while m1 down\n')
        # kill -9 of the leader: a new one is elected, writes go on
        leader = ec.leader()
        ec.kill_member(leader)
        t0 = time.monotonic()
        ec.put('/zdu/k', 'after the leader died')
        print('put after SIGKILL of the leader m%d: %.3fs, new leader m%d'
              % (leader, time.monotonic() - t0, ec.leader()))
        ec.start_member(leader)
        ec.wait_healthy()
        self.assertEqual(ec.get('/zdu/k', endpoint=leader), b'after the leader died')

    def test_4_compact(self):
        ec = self.ec
        first = ec.put('/zdu/c', 'v0')
        for i in range(1, 6):
            last = ec.put('/zdu/c', 'v%d' % i)
        self.assertEqual(ec.compact(), last)
        # An old revision is gone: a range at it says so.
        with self.assertRaises(EtcdError) as cm:
            ec.call('/v3/kv/range', {'key': b64('/zdu/c'), 'revision': str(first)})
        self.assertIn('compacted', str(cm.exception))
        self.assertEqual(ec.get('/zdu/c'), b'v5')
        self.assertEqual(ec.compact(last), last)   # again: accepted (treated as done)

    def test_5_stop_all_start_all(self):
        ec = self.ec
        ec.put('/zdu/persist', 'kept')
        rcs = ec.stop_all()
        print('\nstop_all exit codes: %s' % rcs)
        self.assertEqual(ec.live_endpoints(), [])
        with self.assertRaises(EtcdError):
            ec.get('/zdu/persist', timeout=0.5)
        t0 = time.monotonic()
        ec.start_all()
        print('start_all: healthy in %.2fs' % (time.monotonic() - t0))
        self.assertEqual(ec.get('/zdu/persist'), b'kept')


class TestStale(unittest.TestCase):
    """Runs after TestCluster (alphabetical), once its cluster is closed."""

    def test_foreign_listener_refused(self):
        # A process that is not ours on m2's client port: a clear error, and nothing killed.
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((ADDRS[1], CLIENT_PORT))
        s.listen(1)
        try:
            with self.assertRaises(EtcdError) as cm:
                EtcdCluster(tempdir('zdu-etcd-selftest-'))
            msg = str(cm.exception)
            print('\nforeign listener: %s' % msg)
            self.assertIn('%s:%d is already in use' % (ADDRS[1], CLIENT_PORT), msg)
            self.assertIn('pid %d' % os.getpid(), msg)
        finally:
            s.close()
        # the lock was released by the failed start: a cluster starts now
        with EtcdCluster(tempdir('zdu-etcd-selftest-'), n=1) as ec:
            ec.put('/a', 'b')

    def test_stale_etcd_of_ours_killed(self):
        # An etcd whose owner (ZDU_ETCD_OWNER) is a dead pid, on m1's addresses, not in our
        # process tree (setsid, no PDEATHSIG): what a crashed test run leaves behind.
        dead = subprocess.Popen(['/bin/true'])
        dead.wait()
        d = tempdir('zdu-etcd-selftest-')
        env = dict(os.environ, ZDU_ETCD_OWNER=str(dead.pid))
        url = 'http://%s:%d' % (ADDRS[0], CLIENT_PORT)
        peer = 'http://%s:%d' % (ADDRS[0], CLIENT_PORT + 1)
        with open(os.path.join(d, 'stale.log'), 'wb') as log:
            stale = subprocess.Popen(
                [os.environ.get('ZDU_ETCD', '/usr/bin/etcd'), '--name', 'm1',
                 '--data-dir', os.path.join(d, 'stale'),
                 '--listen-client-urls', url, '--advertise-client-urls', url,
                 '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
                 '--initial-cluster', 'm1=' + peer, '--logger', 'zap'],
                env=env, stdout=log, stderr=log, start_new_session=True)
        try:
            wait_until(lambda: not etcdlib._port_free(ADDRS[0], CLIENT_PORT), timeout=10,
                       message='stale etcd listening')
            with EtcdCluster(d, n=1) as ec:
                self.assertIsNotNone(stale.poll(), 'the stale etcd was killed')
                self.assertEqual(stale.returncode, -signal.SIGKILL)
                ec.put('/a', 'b')
                self.assertEqual(ec.get('/a'), b'b')
        finally:
            if stale.poll() is None:
                stale.kill()
            stale.wait()


if __name__ == '__main__':
    unittest.main()
