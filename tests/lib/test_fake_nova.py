#!/usr/bin/python3
"""Self-test for fake_nova.py:  /usr/bin/python3 tests/lib/test_fake_nova.py"""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fake_nova  # noqa: E402
from fake_nova import FakeNova  # noqa: E402


def get(port, path="/v2.1/", timeout=3.0):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.getheader("Content-Type"), r.read()
    finally:
        c.close()


class InProcess(unittest.TestCase):
    def setUp(self):
        self.fn = FakeNova("127.0.0.1", 0, control_port=0).start()
        self.port = self.fn.port

    def tearDown(self):
        t = time.monotonic()
        self.fn.stop()
        self.assertLess(time.monotonic() - t, 1.0)

    def ctl(self, line):
        return fake_nova.control("127.0.0.1", self.fn.control_port, line)

    def test_refuse_non_loopback(self):
        for a in ("0.0.0.0", "10.0.0.1", "::1", "localhost"):
            with self.assertRaises(ValueError):
                FakeNova(a, 0)

    def test_healthy_doc(self):
        st, ct, body = get(self.port)
        self.assertEqual((st, ct), (200, "application/json"))
        v = json.loads(body)["version"]
        self.assertEqual((v["status"], v["version"], v["min_version"]),
                         ("CURRENT", "2.93", "2.1"))
        self.assertEqual(v["links"][0]["href"],
                         "http://127.0.0.1:%d/v2.1/" % self.port)
        self.assertEqual(get(self.port, "/healthcheck")[2], b"OK")
        self.assertEqual(self.fn.requests, 2)
        self.assertEqual([e[1:] for e in self.fn.log],
                         [("/v2.1/", "healthy"), ("/healthcheck", "healthy")])

    def test_refused_and_back(self):
        self.fn.set_mode("refused")
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", self.port), 1).close()
        self.assertEqual(self.ctl("mode healthy"), "ok")
        self.assertEqual(get(self.port)[0], 200)

    def test_badjson_offset(self):
        self.fn.set_mode("badjson")
        body = get(self.port)[2]
        self.assertEqual(body, fake_nova.BADJSON_BODY)
        with self.assertRaises(json.JSONDecodeError) as cm:
            json.loads(body)
        self.assertEqual(cm.exception.pos, fake_nova.BADJSON_OFFSET)
        self.fn.set_mode("badjson", kind="garbage")
        body = get(self.port)[2]
        self.assertEqual(body[37:38], b"#")
        with self.assertRaises(json.JSONDecodeError) as cm:
            json.loads(body)
        self.assertEqual(cm.exception.pos, 37)

    def test_oversized(self):
        self.fn.set_mode("oversized")
        body = get(self.port)[2]
        self.assertEqual(len(body), 200 * 1024)
        self.assertEqual(json.loads(body)["version"]["status"], "CURRENT")
        self.fn.set_mode("oversized", size=5000, framing="chunked")
        self.assertEqual(len(get(self.port)[2]), 5000)

    def test_wrong_html_500_hc(self):
        self.fn.set_mode("wrong")
        self.assertEqual(json.loads(get(self.port)[2])["version"]["status"],
                         "SUPPORTED")
        self.fn.set_mode("wrong", variant="missing")
        self.assertNotIn("version", json.loads(get(self.port)[2]))
        self.fn.set_mode("html")
        self.assertTrue(get(self.port)[1].startswith("text/html"))
        self.fn.set_mode("http500")
        self.assertEqual(get(self.port)[0], 500)
        self.assertEqual(get(self.port, "/healthcheck")[0], 500)
        self.fn.set_mode("healthcheck_disabled")
        self.assertEqual(get(self.port)[0], 200)
        self.assertEqual(get(self.port, "/healthcheck")[:3:2],
                         (503, b"DISABLED BY FILE"))
        with self.assertRaises(ValueError):
            self.fn.set_mode("wrong", bogus=1)

    def test_hang_many_and_switch(self):
        self.fn.set_mode("hang")
        results = []

        def worker():
            try:
                results.append(get(self.port, timeout=10)[0])
            except Exception as e:           # noqa: BLE001
                results.append(type(e).__name__)
        ts = [threading.Thread(target=worker) for _ in range(200)]
        for t in ts:
            t.start()
        self.assertTrue(self.fn.wait_for_requests(200, 10))
        t0 = time.monotonic()
        self.assertEqual(self.ctl("mode healthy"), "ok")
        self.assertLess(time.monotonic() - t0, 0.5)
        self.assertEqual(get(self.port)[0], 200)
        for t in ts:
            t.join(5)
        self.assertEqual(len(results), 200)
        self.assertNotIn(200, results)       # hung ones got no reply

    def test_trickle_timing(self):
        self.fn.set_mode("trickle", interval_ms=10, chunk=50)
        t0 = time.monotonic()
        st, _, body = get(self.port)
        dt = time.monotonic() - t0
        self.assertEqual(st, 200)
        json.loads(body)
        self.assertGreater(dt, 0.07)

    def test_slow(self):
        # the default delay, then a chosen one; the document is the healthy one
        for params, want in (({}, 1.2), ({"delay_ms": 300}, 0.3)):
            self.fn.set_mode("slow", **params)
            t0 = time.monotonic()
            st, _, body = get(self.port)
            dt = time.monotonic() - t0
            self.assertEqual(st, 200)
            self.assertEqual(json.loads(body)["version"]["status"], "CURRENT")
            self.assertGreaterEqual(dt, want)
            self.assertLess(dt, want + 1.0)

    def test_stop_with_hung_and_trickling_clients(self):
        self.fn.set_mode("trickle")
        socks = []
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", self.port))
            s.sendall(b"GET /v2.1/ HTTP/1.1\r\nHost: x\r\n\r\n")
            socks.append(s)
        self.fn.set_mode("hang")
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", self.port))
            s.sendall(b"GET /v2.1/ HTTP/1.1\r\nHost: x\r\n\r\n")
            socks.append(s)
        socks.append(socket.create_connection(("127.0.0.1", self.port)))
        self.assertTrue(self.fn.wait_for_requests(40, 5))
        t0 = time.monotonic()
        self.fn.stop()
        self.assertLess(time.monotonic() - t0, 1.0)
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", self.port), 1).close()
        for s in socks:
            s.close()


class Subprocess(unittest.TestCase):
    def test_program_sigterm(self):
        p = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(HERE, "fake_nova.py"),
             "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0",
             "--mode", "refused", "--version", "2.95"],
            stdout=subprocess.PIPE, text=True)
        try:
            line = p.stdout.readline().split()
            self.assertEqual(line[0], "ready")
            port = int(line[1].rsplit(":", 1)[1])
            cport = int(line[2].rsplit(":", 1)[1])
            with self.assertRaises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", port), 1).close()
            self.assertEqual(
                fake_nova.control("127.0.0.1", cport, "mode healthy"), "ok")
            v = json.loads(get(port)[2])["version"]
            self.assertEqual(v["version"], "2.95")
            fake_nova.control("127.0.0.1", cport, "mode hang")
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /v2.1/ HTTP/1.0\r\n\r\n")
            time.sleep(0.2)
            t0 = time.monotonic()
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(3), 0)
            self.assertLess(time.monotonic() - t0, 1.5)
            s.close()
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()

    def test_bad_listen(self):
        r = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "fake_nova.py"),
                            "--listen", "0.0.0.0:1"], capture_output=True)
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
