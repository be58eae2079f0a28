#!/usr/bin/python3
"""One zdu-agent answers a real HAProxy for three real APIs by agent-send name (issue 17).

One node on loopback: a real nova-api (127.0.0.91:8774), a real placement-api
(127.0.0.92:8778) and a real glance-api (127.0.0.93:9292, no microversions, oslo's
/healthcheck with disable_by_file in its paste pipeline), all Debian 12 packages under uwsgi
(tests/lib/apilib.py).  ONE zdu-agent on 127.0.0.94 with a `services` list (nova: probe
"nova", placement: "microversion" at versions[0].max_version, glance: "healthcheck").  ONE
real HAProxy 2.6 with a backend per service; each server is
`agent-check agent-addr 127.0.0.94 agent-port P agent-send "NAME\\n"` (no regular `check`,
so every state HAProxy shows comes from the agent) and a fourth backend `bogus` whose server
sends the unknown name "no-such-api\\n".

Checked, each as a condition with a deadline:
  * every backend serves (status 'no check', agent L7OK) once the APIs answer; each name
    gets one reply line that says 'up';
  * an unknown name changes nothing: the bogus server, put in DRAIN by the runtime API
    right after HAProxy's start, stays DRAIN (a 'ready' reply would have undrained it)
    with agent_desc 'No status change', and the agent's reply to that name is only the
    comment "#unknown service 'no-such-api'".  HAProxy 2.6 shows an agent's comment only
    after a state word (src/tcpcheck.c, tcpcheck_agent_expect_reply), so the comment itself
    is checked on the agent's reply, not in show stat;
  * `zdu-agent --maintenance on --service placement` drains placement's backend only (and
    the two others stay serving for 1 s); a name sent one byte at a time gets placement's
    own reply, not the default service's; off -> all serving;
  * `--maintenance on` (the node) drains all three; off -> all serving;
  * a client that sends nothing gets the default (first) service's reply, after
    agent.name_timeout_ms (400 ms here, 100 by default: the bound counts from the accept,
    and the byte-by-byte name below must fit in it on a loaded machine) and within a second
    more;
  * a client that sends 1 MiB without a newline is cut off (EOF or reset within 3 s) while
    other clients keep getting their replies (each within 1 s);
  * glance's /healthcheck disabled by file drains glance's backend only (its own
    maintenance, not DOWN);
  * glance stopped: its backend goes DOWN (agent), the two others stay serving.

Runs in well under 60 s once the packages are installed (tests/nova/install-deps); exit 77
(skipped) only when they cannot be installed.  RESOURCE_LOCK apis-91-99 with the selftest.
"""

import os
import threading
import time

from agentlib import Agent, check, check_holds, check_within, cli_expect, main
from apilib import GlanceApi, NovaApi, PlacementApi, ensure_packages_or_skip, stop_all
from serviceslib import ServicesHAProxy, ask, ask_bytewise, ask_silent, flood, services_text
from testutil import free_port, parallel, tempdir

NOVA_ADDR, PLACEMENT_ADDR, GLANCE_ADDR, AGENT_ADDR = ('127.0.0.91', '127.0.0.92', '127.0.0.93',
                                                      '127.0.0.94')
INTER_MS = 300            # HAProxy's agent-inter
PROBE_MS = 1000           # the agent's probe interval per service
# agent.name_timeout_ms (default 100): 400 here, so that a name sent one byte at a time on a
# loaded machine still arrives within it (the bound counts from the accept)
NAME_TIMEOUT_S = 0.400
FLIP_S = 5.0              # a flag change reaching HAProxy: next agent probe + a loaded machine
SERVING = 'no check'      # show stat's status of a serving agent-only server
DRAINED = 'DRAIN (agent)'
SERVICES = ('nova-api', 'placement', 'glance')
UNKNOWN = 'no-such-api'


def service_list(agent_port):
    common = dict(interval_ms=PROBE_MS, timeout_ms=900, connect_timeout_ms=500, rise=1, fall=2)
    return [
        dict(name='nova-api', probe='nova', url='http://%s:8774/v2.1/' % NOVA_ADDR,
             drain_ports=[8774], **common),
        dict(name='placement', probe='microversion', url='http://%s:8778/' % PLACEMENT_ADDR,
             version_path='versions[0].max_version', drain_ports=[8778], **common),
        dict(name='glance', probe='healthcheck', url='http://%s:9292/healthcheck' % GLANCE_ADDR,
             drain_ports=[9292], **common),
    ]


def backends(agent_port):
    def srv(addr, port, name):
        return [dict(name='node1', addr=addr, port=port, agent_port=agent_port,
                     agent_addr=AGENT_ADDR, agent_send=name + '\n', check=False)]
    return {'nova-api': srv(NOVA_ADDR, 8774, 'nova-api'),
            'placement': srv(PLACEMENT_ADDR, 8778, 'placement'),
            'glance': srv(GLANCE_ADDR, 9292, 'glance'),
            'bogus': srv(GLANCE_ADDR, 9293, UNKNOWN)}


class Node:
    def __init__(self, lb, agent):
        self.lb, self.agent = lb, agent

    def statuses(self):
        rows = self.lb.server_rows()
        return {b: rows[(b, 'node1')]['status'] for b in SERVICES}

    def describe(self):
        rows = self.lb.server_rows()
        return {b: self.lb._describe_row(rows[(b, 'node1')]) for b in SERVICES + ('bogus',)}

    def expect(self, want, what, timeout=FLIP_S, hold=1.0):
        """The three backends show WANT ({backend: status}, the others SERVING) within
        TIMEOUT, and keep showing exactly that for HOLD seconds."""
        full = {b: want.get(b, SERVING) for b in SERVICES}

        def ok():
            return self.statuses() == full
        check_within(ok, timeout, '%s: %s' % (what, full), detail=self.describe)
        if hold:
            check_holds(ok, hold, '%s: still exactly that' % what, detail=self.describe)

    def ask(self, name):
        return ask(self.agent.addr, self.agent.port, name)


def start_node(wd):
    apis = [NovaApi(wd, NOVA_ADDR), PlacementApi(wd, PLACEMENT_ADDR), GlanceApi(wd, GLANCE_ADDR)]
    t0 = time.monotonic()
    parallel(lambda a: a.setup(), apis)
    try:
        for a in apis:          # from this thread: PR_SET_PDEATHSIG is per thread
            a.launch()
        port = free_port(AGENT_ADDR)
        agent = Agent(workdir=os.path.join(wd, 'agent'), addr=AGENT_ADDR, port=port,
                      settings={'agent': {'name_timeout_ms': int(NAME_TIMEOUT_S * 1000)}},
                      extra_text=services_text(service_list(port)), start=False)
        agent.start()           # its probes fail until the APIs answer: that is fine
        lb = ServicesHAProxy(wd, backends(agent.port), agent_inter_ms=INTER_MS,
                             check=False).start()
        # The bogus server is drained by hand: any reply with a state word ('up ready ...')
        # would undrain it at HAProxy's next agent check; a comment alone leaves it.
        lb.set_state('node1', 'drain', backend='bogus')
        parallel(lambda a: a.wait_ready(90), apis)
    except BaseException:
        stop_all(apis)
        raise
    print('timing: APIs %s; node up %.2f s after the start' % (
        ', '.join('%s %.2f s (%.1f s CPU)' % (a.name, a.start_seconds, a.cpu_seconds())
                  for a in apis),
        time.monotonic() - t0), flush=True)
    return apis, agent, lb


def check_flood(node):
    """1 MiB without a newline: cut off, and the others still answered meanwhile."""
    a = node.agent
    res = {}
    th = threading.Thread(target=lambda: res.update(flood(a.addr, a.port, 1 << 20, timeout=3.0)))
    th.start()
    slowest, bad, n = 0.0, [], 0
    while (th.is_alive() or n < 5) and n < 200:
        t0 = time.monotonic()
        r = node.ask('nova-api')
        slowest = max(slowest, time.monotonic() - t0)
        n += 1
        if not r.startswith('up'):
            bad.append(r)
    th.join(5)
    print('flood: %r; %d other replies meanwhile, slowest %.0f ms' % (
        {k: (v[:80] if isinstance(v, bytes) else v) for k, v in res.items()}, n, slowest * 1000),
        flush=True)
    check(res.get('end') in ('eof', 'reset'), 'a 1 MiB client is cut off (EOF or reset, not '
          'a timeout)', res.get('end'))
    check(not bad, 'other clients got nova-api\'s reply during the flood', bad[:3])
    check(slowest < 1.0, 'other clients answered within 1 s during the flood',
          '%.3f s' % slowest)
    check(a.running(), 'the agent still runs after the flood')


def run():
    ensure_packages_or_skip()
    wd = tempdir('zdu-it-svc-')
    apis, agent, lb = start_node(wd)
    nova, placement, glance = apis
    node = Node(lb, agent)
    try:
        # ---- every backend serves, each name has its own one-line reply
        node.expect({}, 'all three backends serving with real APIs', timeout=20, hold=0)
        for b in SERVICES:
            check_within(lambda b=b: lb.server_is('node1', {'agent_status': 'L7OK'}, backend=b),
                         5, '%s: agent check L7OK' % b, detail=node.describe)
        replies = {n: node.ask(n) for n in SERVICES}
        print('replies: %r' % replies, flush=True)
        for n, r in replies.items():
            check(r.split()[0] == 'up', 'reply to %r says up' % n, r)

        # ---- an unknown name: only a comment, nothing changes on HAProxy
        r = node.ask(UNKNOWN)
        check(r.startswith('#') and "unknown service '%s'" % UNKNOWN in r,
              'the reply to an unknown name is only the comment', r)
        check_holds(lambda: lb.server_is('node1', {'status': DRAINED,
                                                   'agent_desc': 'No status change'},
                                         backend='bogus'),
                    1.0, 'bogus backend (agent-send %r): still the drain set by hand, agent '
                    "'No status change'" % UNKNOWN, detail=node.describe)

        # ---- a service flip drains its backend only
        cli_expect(agent, '--maintenance', 'on', '--service', 'placement', '--reason', 'test')
        node.expect({'placement': DRAINED}, 'placement flag on')
        drained = node.ask('placement')
        check(drained.split()[:2] == ['up', 'drain'], 'placement\'s reply drains', drained)
        default = node.ask('nova-api')
        check(default != drained, 'nova-api\'s reply differs from placement\'s', default)
        data, secs = ask_bytewise(agent.addr, agent.port, b'placement\n', gap=0.002)
        check(data.decode() == drained + '\n',
              'the name sent one byte at a time gets placement\'s reply (%.0f ms)' % (secs * 1000),
              data)
        cli_expect(agent, '--maintenance', 'off', '--service', 'placement')
        node.expect({}, 'placement flag off')

        # ---- the node flip drains all three
        cli_expect(agent, '--maintenance', 'on', '--reason', 'node')
        node.expect({b: DRAINED for b in SERVICES}, 'node flag on')
        cli_expect(agent, '--maintenance', 'off')
        node.expect({}, 'node flag off')

        # ---- a client that sends nothing: the default service after the name timeout
        data, secs = ask_silent(agent.addr, agent.port, timeout=3.0)
        want = node.ask('nova-api')
        print('silent client: %r after %.0f ms' % (data, secs * 1000), flush=True)
        check(data.decode() == want + '\n', 'a silent client gets the default (first) '
              'service\'s reply', (data, want))
        check(NAME_TIMEOUT_S * 0.9 <= secs < NAME_TIMEOUT_S + 1.0, 'a silent client waits the '
              'name timeout (%.0f ms) and not much more' % (NAME_TIMEOUT_S * 1000), '%.3f s' % secs)

        # ---- 1 MiB of garbage
        check_flood(node)

        # ---- glance's oslo healthcheck disabled by file: its own maintenance
        glance.disable_healthcheck()
        check_within(lambda: node.statuses() in ({'nova-api': SERVING, 'placement': SERVING,
                                                  'glance': g} for g in (DRAINED, 'MAINT')),
                     FLIP_S + 2 * PROBE_MS / 1000.0, 'glance disabled by file: glance drained, '
                     'the others serving', detail=node.describe)
        glance.enable_healthcheck()
        node.expect({}, 'glance enabled again', timeout=FLIP_S + 2 * PROBE_MS / 1000.0)

        # ---- glance fails: its backend only goes DOWN
        glance.stop()
        node.expect({'glance': 'DOWN (agent)'}, 'glance stopped',
                    timeout=FLIP_S + 3 * 2.5)
    finally:
        lb.stop()
        agent.stop()
        stop_all(apis)


if __name__ == '__main__':
    main(run)
