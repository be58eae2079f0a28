#!/usr/bin/python3
"""systemd's side of sd_notify, for the tests of what the agent tells it (stdlib only).

    ns = NotifySocket(path)          a unix datagram socket bound at PATH with SO_PASSCRED;
                                     recv(timeout) -> (pid, text) or None; expect(agent, want,
                                     timeout=10, what=None) checks the next message is WANT,
                                     sent by the agent's pid; quiet(seconds) -> what arrived
                                     meanwhile; .got (every message); close().
    NotifyAgent(notify_path, **kw)   agentlib.Agent run with NOTIFY_SOCKET=NOTIFY_PATH (Agent
                                     removes NOTIFY_SOCKET from the environment).
    no_libsystemd_hint(agent) -> str why nothing may have arrived (a build without libsystemd).
"""

import os
import socket
import struct
import time

import agentlib
from agentlib import Agent, check
from testutil import Proc

__all__ = ['NotifySocket', 'NotifyAgent', 'no_libsystemd_hint']


class NotifySocket:
    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.got = []     # every message received: (pid or None, text)

    def recv(self, timeout):
        """One message (pid, text), or None after TIMEOUT seconds."""
        self.sock.settimeout(timeout)
        try:
            data, anc, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(12))
        except socket.timeout:
            return None
        pid = None
        for level, typ, cdata in anc:
            if level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
                pid = struct.unpack('iII', cdata[:12])[0]
        msg = (pid, data.decode('utf-8', 'replace'))
        self.got.append(msg)
        print('notify: pid %s: %r' % msg, flush=True)
        return msg

    def expect(self, agent, want, timeout=10.0, what=None):
        """The next message must be WANT (fields, in order); returns its text."""
        m = self.recv(timeout)
        what = what or repr(want)
        if m is None:
            raise AssertionError('no notify message within %.0fs, expected %s%s'
                                 % (timeout, what, no_libsystemd_hint(agent)))
        check(m[0] == agent.proc.pid, '%s: sent by the agent (pid %d)' % (what, agent.proc.pid),
              m[0])
        check(m[1] == want, 'notify message is %s' % what, m[1])
        return m[1]

    def quiet(self, seconds):
        """Nothing more arrives within SECONDS; returns what did."""
        extra = []
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return extra
            m = self.recv(left)
            if m is None:
                return extra
            extra.append(m)

    def close(self):
        self.sock.close()


def no_libsystemd_hint(agent):
    try:
        with open('/proc/%d/maps' % agent.proc.pid) as f:
            linked = 'libsystemd' in f.read()
    except OSError:
        linked = None
    cache = os.path.join(os.environ.get('ZDU_BUILD_DIR', ''), 'CMakeCache.txt')
    found = None
    if os.path.exists(cache):
        with open(cache) as f:
            for line in f:
                if line.startswith('SYSTEMD_FOUND:'):
                    found = line.strip()
    if linked is False or (found and not found.endswith('=1')):
        return ('\nzdu-agent was built WITHOUT libsystemd (agent/daemon/notify.c without '
                'HAVE_LIBSYSTEMD: sd_notify is a no-op); install libsystemd-dev and rebuild. '
                '(%s; libsystemd mapped in the daemon: %s)' % (found, linked))
    return ' (libsystemd is mapped in the daemon: %s; %s)' % (linked, found)


class NotifyAgent(Agent):
    """agentlib.Agent with NOTIFY_SOCKET set (agentlib removes it from the environment)."""

    def __init__(self, notify_path, **kw):
        self.notify_path = notify_path
        super().__init__(**kw)

    def start(self, wait=True, timeout=15.0):
        self.write_config()
        env = agentlib._env()
        env['NOTIFY_SOCKET'] = self.notify_path
        self.proc = Proc([agentlib.agent_binary(), '--config', self.cfg_path, '--foreground'],
                         self.log_path, env=env)
        if wait:
            self.wait_ready(timeout)
        return self
