#!/usr/bin/python3
"""The README's "nova's manual procedure with agents installed", run as written against real
HAProxy and real agents: the commands are read from the README's code blocks (zdu-agent ones
run on every node, `echo "CMD" | socat stdio /run/haproxy/admin.sock` ones sent to every load
balancer's runtime socket). Four nodes behind two HAProxy with the sample's backend nova_api,
agent-inter 300 ms; node4, which the commands do not name, is the witness whose agent counts
the load balancers' probes (a condition that time has passed for several agent-inters).

  0. Without precautions, nova's guide as written: `set weight nova_api/node1 0` and
     `disable server nova_api/node1` are both undone by the agent within a few agent-inters
     (what the section warns about).
  1. Way A: every node's flag to mode lb (the README's command); every load balancer then shows
     last_agt "via agent : up (lb-managed..." for every server (the README's criterion). `set
     weight 0` is still undone (the README's caveat: the weight stays the agent's), but
     `disable server nova_api/node1` holds MAINT on both load balancers over 4 more probes of
     node1's agent; `enable server` brings it back UP; `zdu-agent --maintenance off` on every
     node gives the agents back the administrative state (replies "up ready").
  2. Way B: `disable agent` for node1..node3 on every load balancer; nova's `set weight
     nova_api/node1 0` then holds weight 0 while node4's agent is probed 4 more times by each
     load balancer; `set weight ... 100`; `enable agent ...`: the agents are in charge again
     (a maintenance flag set on node1 meanwhile applies: DRAIN)."""
import re
import shlex
import os

from agentlib import check, check_within, main
from clusterlib import Cluster
from haproxy import base_status
from testutil import wait_until

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'README.md')
SECTION = "## nova's manual procedure with agents installed"
SOCAT = re.compile(r'^echo "(.*)" \| socat stdio /run/haproxy/admin\.sock$')


def section_commands():
    """{'A': [...], 'B': [...]}: the commands of the section's code blocks, by way."""
    text = open(README).read()
    check(SECTION in text, 'README has the section "%s"' % SECTION[3:])
    body = text.split(SECTION, 1)[1].split('\n## ', 1)[0]
    a, b = body.split('**B.', 1)
    out = {}
    for way, part in (('A', a), ('B', b)):
        cmds, inb = [], False
        for line in part.splitlines():
            if line.strip().startswith('```'):
                inb = not inb
                continue
            if inb and line.strip():
                cmds.append(line.strip())
        out[way] = cmds
    return out


def run_everywhere(cl, cmd):
    """A zdu-agent command on every node, or a runtime command on every load balancer."""
    if cmd.startswith('zdu-agent '):
        for n in cl.nodes:
            r = n['agent'].cli(*shlex.split(cmd)[1:])
            check(r.returncode == 0, '%s: %s (exit 0)' % (n['name'], cmd), r)
        return
    m = SOCAT.match(cmd)
    check(m is not None, 'a command the test knows how to run: %s' % cmd)
    for lb in cl.lbs:
        answer = lb.runtime(m.group(1))
        check(answer.strip() == '', '%s: %s (no error)' % (lb.name, m.group(1)), answer)


def runtime_all(cl, cmd):
    for lb in cl.lbs:
        answer = lb.runtime(cmd)
        check(answer.strip() == '', '%s: %s' % (lb.name, cmd), answer)


def accepted(cl, name):
    return cl.node(name)['agent'].status()['connections']['accepted']


def wait_probes(cl, name, k):
    """Until NAME's agent has answered K more agent checks (both load balancers probe it every
    agent-inter)."""
    start = accepted(cl, name)
    wait_until(lambda: accepted(cl, name) >= start + k, timeout=15,
               message='%s agent answers %d more checks' % (name, k))


def weight_is(cl, name, w):
    return all(lb.server(name)['weight'] == str(w) for lb in cl.lbs)


def describe(cl, name):
    return {lb.name: lb.describe(name) for lb in cl.lbs}


def run():
    ways = section_commands()
    a, b = ways['A'], ways['B']
    print('way A: %s\nway B: %s' % (a, b))
    check(len(a) == 4 and a[0].startswith('zdu-agent --maintenance on --mode lb')
          and 'disable server nova_api/node1' in a[1] and 'enable server nova_api/node1' in a[2]
          and a[3] == 'zdu-agent --maintenance off', 'way A: lb flags, disable/enable server, off', a)
    check(len(b) == 2 and 'disable agent nova_api/node1' in b[0] and 'enable agent nova_api/node1' in b[1],
          'way B: disable agent, enable agent', b)

    with Cluster(nodes=4, lbs=2, lb_kwargs=dict(backend='nova_api')) as cl:
        # 0. nova's guide as written, agents asserting ready
        runtime_all(cl, 'set weight nova_api/node1 0')
        check_within(lambda: weight_is(cl, 'node1', 100), 10,
                     'no precaution: "set weight nova_api/node1 0" undone by the agent',
                     detail=lambda: describe(cl, 'node1'))
        runtime_all(cl, 'disable server nova_api/node1')
        for lb in cl.lbs:
            check_within(lambda: lb.server_is('node1', 'UP'), 10,
                         'no precaution: "disable server nova_api/node1" undone by the agent (%s)'
                         % lb.name, detail=lambda: lb.describe('node1'))

        # 1. way A
        run_everywhere(cl, a[0])
        check_within(lambda: all(lb.server(n['name'])['last_agt'].startswith('via agent : up (lb-managed')
                                 for lb in cl.lbs for n in cl.nodes), 10,
                     'way A: every load balancer shows lb-managed (last_agt "via agent : up '
                     '(lb-managed") for every server',
                     detail=lambda: {(lb.name, n['name']): lb.server(n['name'])['last_agt']
                                     for lb in cl.lbs for n in cl.nodes})
        runtime_all(cl, 'set weight nova_api/node1 0')
        check_within(lambda: weight_is(cl, 'node1', 100), 10,
                     'way A: "set weight 0" is still undone (the README says: use disable server)',
                     detail=lambda: describe(cl, 'node1'))
        run_everywhere(cl, a[1])
        for lb in cl.lbs:
            lb.wait_server('node1', 'MAINT', timeout=5)
        wait_probes(cl, 'node1', 4 * len(cl.lbs))
        for lb in cl.lbs:
            row = lb.server('node1')
            check(row['status'] == 'MAINT', 'way A: node1 still MAINT on %s after 4 more agent checks'
                  % lb.name, row['status'])
        run_everywhere(cl, a[2])
        for lb in cl.lbs:
            check_within(lambda: lb.server_is('node1', 'UP'), 10,
                         'way A: enable server: node1 UP on %s' % lb.name,
                         detail=lambda: lb.describe('node1'))
        run_everywhere(cl, a[3])
        for n in cl.nodes:
            n['agent'].wait_reply(lambda r: r.startswith('up ready'), timeout=5)
        wait_until(lambda: all('lb-managed' not in lb.server(n['name'])['last_agt']
                               for lb in cl.lbs for n in cl.nodes), timeout=10,
                   message='every load balancer applied the agents\' own replies again')
        check_within(cl.all_up, 15,
                     'way A: maintenance off: agents assert ready again, every server UP weight 100',
                     detail=lambda: {n['name']: describe(cl, n['name']) for n in cl.nodes})

        # 2. way B
        run_everywhere(cl, b[0])
        runtime_all(cl, 'set weight nova_api/node1 0')
        r = cl.node('node1')['agent'].cli('--maintenance', 'on', '--reason', 'flag while agents off')
        check(r.returncode == 0, 'node1 flag drain set meanwhile', r)
        wait_probes(cl, 'node4', 4 * len(cl.lbs))
        for lb in cl.lbs:
            row = lb.server('node1')
            check(row['weight'] == '0' and base_status(row['status']) == 'UP',
                  'way B: node1 weight 0 and not drained on %s (agent ignored) after 4 checks of node4'
                  % lb.name, (row['status'], row['weight']))
        runtime_all(cl, 'set weight nova_api/node1 100')
        run_everywhere(cl, b[1])
        for lb in cl.lbs:
            check_within(lambda: lb.server_is('node1', 'DRAIN (agent)'), 10,
                         'way B: enable agent: the agents are in charge again (node1\'s flag: '
                         'DRAIN on %s)' % lb.name, detail=lambda: lb.describe('node1'))
        r = cl.node('node1')['agent'].cli('--maintenance', 'off')
        check(r.returncode == 0, 'node1 flag off', r)
        cl.wait_all_up()


if __name__ == '__main__':
    main(run)
