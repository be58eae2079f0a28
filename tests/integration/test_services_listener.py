#!/usr/bin/python3
"""One agent port for several services (issue 17): the name HAProxy's agent-send gives chooses
the reply, without HAProxy in the way, so every odd peer can be played exactly.

  1. 'placement\\n' gets placement's reply, 'glance\\r\\n' glance's, an empty line and a peer
     that sends nothing the first service's (nova-api) — the latter after
     agent.name_timeout_ms (100 ms here), not before, and well within a second.
  2. --maintenance on --service placement drains placement alone, and the reply says a service
     flag holds it; the node flag (no --service) drains all three; clearing the node flag
     leaves placement's own drain in place.
  3. A name sent one byte at a time, 30 ms apart, gets that service's reply.
  4. An unknown name gets only a comment (#unknown service 'bogus'), counted in the status and
     logged once however often it comes; bytes no name has get '#invalid service name'.
  5. A peer that sends 1 MiB gets a comment and is cut off (oversized in the status) while
     other peers keep getting their replies.
  6. A service with a port of its own (services.listen) is answered on accept there.
  7. The CLI refuses an unknown --service with the list of services; wait-drained for a
     service without drain ports says drain detection is off."""
import socket
import time

from agentlib import Agent, check, main, cli_expect

ADDR = '127.0.0.131'


def services_text(own_port):
    return '''services = (
  { name = "nova-api"; url = "http://%(a)s:1/v2.1/"; probe_enabled = false; },
  { name = "placement"; probe = "microversion"; url = "http://%(a)s:2/";
    version_path = "versions[0].max_version"; probe_enabled = false; },
  { name = "glance"; probe = "healthcheck"; url = "http://%(a)s:3/healthcheck"; probe_enabled = false;
    listen = [ "%(a)s:%(p)d" ]; }
);
''' % {'a': ADDR, 'p': own_port}


def ask(agent, name):
    return agent.reply(name.encode() if isinstance(name, str) else name)


def trickle(agent, data, gap):
    with socket.create_connection((agent.addr, agent.port), timeout=5) as s:
        for b in data:
            s.sendall(bytes([b]))
            time.sleep(gap)
        out = b''
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return out
            out += chunk


def flood(agent, nbytes):
    """Sends nbytes (a valid name's letters, no newline); returns what came back before the
    agent cut the connection."""
    got = b''
    with socket.create_connection((agent.addr, agent.port), timeout=5) as s:
        try:
            s.sendall(b'a' * nbytes)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
        except ConnectionResetError:
            pass
    return got


def run():
    from testutil import free_port
    own = free_port(ADDR)
    with Agent(addr=ADDR, extra_text=services_text(own)) as agent:
        # 1. by name, and the default
        check(ask(agent, 'placement\n') == 'up ready 100%', 'placement answered by name')
        r = agent.cli('--maintenance', 'on', '--service', 'glance', '--reason', 'glance upgrade')
        check(r.returncode == 0, 'glance drained by its own flag', r)
        check(ask(agent, 'glance\r\n') == 'up drain #maintenance: service glance: glance upgrade',
              'glance (CRLF) gets its own reply', ask(agent, 'glance\r\n'))
        check(ask(agent, 'nova-api\n') == 'up ready 100%', 'nova-api unaffected by glance\'s flag')
        check(ask(agent, '\n') == 'up ready 100%', 'an empty line gets the default service')
        t = time.monotonic()
        data, _ = agent.probe(b'', timeout=3)
        took = time.monotonic() - t
        check(data == b'up ready 100%\n', 'a peer that sends nothing gets the first service\'s reply', data)
        check(0.09 <= took < 1.0, 'after agent.name_timeout_ms (100 ms), not before: %.3f s' % took, took)
        cli_expect(agent, '--maintenance', 'off', '--service', 'glance')

        # 2. service flag vs node flag
        cli_expect(agent, '--maintenance', 'on', '--service', 'placement', '--reason', 'schema')
        check(ask(agent, 'placement\n') == 'up drain #maintenance: service placement: schema',
              'placement drained by its service flag', ask(agent, 'placement\n'))
        for other in ('nova-api', 'glance'):
            check(ask(agent, other + '\n') == 'up ready 100%', '%s still ready' % other)
        cli_expect(agent, '--maintenance', 'on', '--mode', 'maint', '--reason', 'kernel')
        for name in ('nova-api', 'placement', 'glance'):
            check(ask(agent, name + '\n') == 'up maint #maintenance: kernel',
                  'node maint (stricter) holds %s' % name, ask(agent, name + '\n'))
        st = agent.status()
        check(st['node_state']['flagged'] == 3 and len(st['services']) == 3, 'status: 3 services, 3 flagged',
              st['node_state'])
        pl = [s for s in st['services'] if s['name'] == 'placement'][0]
        check(pl['flag']['source'] == 'file' and pl['flag']['service_file']['mode'] == 'drain',
              'placement: held by the node file, its own drain still read', pl['flag'])
        cli_expect(agent, '--maintenance', 'off')
        check(ask(agent, 'placement\n') == 'up drain #maintenance: service placement: schema',
              'node flag cleared: placement\'s own drain still holds')
        check(ask(agent, 'nova-api\n') == 'up ready 100%', 'nova-api back')
        r = agent.cli('--status', '--service', 'placement', '--json')
        check(r.returncode == 0 and '"name":"placement"' in r.stdout, '--status --service placement', r)
        cli_expect(agent, '--maintenance', 'off', '--service', 'placement')

        # 3. one byte at a time
        cli_expect(agent, '--maintenance', 'on', '--service', 'placement', '--reason', 'slowly')
        out = trickle(agent, b'placement\n', 0.03)
        check(out == b'up drain #maintenance: service placement: slowly\n',
              'a name sent a byte at a time (30 ms apart) gets its service\'s reply', out)
        cli_expect(agent, '--maintenance', 'off', '--service', 'placement')

        # 4. unknown names and bad bytes
        start = agent.log_size()
        for _ in range(3):
            check(ask(agent, 'bogus\n') == "#unknown service 'bogus'", 'unknown name: a comment only')
        check(ask(agent, 'no such\n') == '#invalid service name', 'a space: not a name')
        check(ask(agent, b'\xff\xfe\n') == '#invalid service name', 'non-ASCII: not a name')
        agent.wait_log("service 'bogus'", start=start, timeout=5)
        check(agent.log_text()[start:].count("service 'bogus'") == 1, 'the unknown name is logged once')
        c = agent.status()['connections']
        check(c['unknown_name'] == 3 and c['invalid_name'] == 2, 'status counts 3 unknown, 2 invalid', c)

        # 5. 1 MiB
        got = flood(agent, 1 << 20)
        check(got in (b'', b'#invalid service name\n'), 'a 1 MiB peer gets a comment at most', got[:80])
        check(ask(agent, 'placement\n') == 'up ready 100%', 'others still answered after the flood')
        c = agent.status()['connections']
        check(c['oversized'] >= 1, 'the flood is counted as oversized', c)

        # 6. a port of its own
        data, took = __import__('testutil').agent_probe(ADDR, own)
        check(data == b'up ready 100%\n' and took < 0.09, 'glance\'s own port answers on accept (%.3f s)' % took,
              (data, took))
        st = agent.status()
        gl = [s for s in st['services'] if s['name'] == 'glance'][0]
        check(gl['listen']['accepted'] == 1, 'counted on glance\'s own port', gl['listen'])

        # 7. the CLI's checks
        r = agent.cli('--maintenance', 'on', '--service', 'nope')
        check(r.returncode == 2 and 'nova-api placement glance' in r.stderr,
              'an unknown --service is refused with the list of services', r)
        r = agent.cli('--maintenance', 'on', '--service', 'glance', '--wait', '1')
        check(r.returncode == 1 and 'drain detection is off' in r.stderr,
              'wait for a service without drain ports: drain detection is off', r)
        cli_expect(agent, '--maintenance', 'off', '--service', 'glance')


if __name__ == '__main__':
    main(run)
