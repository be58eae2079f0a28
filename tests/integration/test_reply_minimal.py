#!/usr/bin/python3
"""agent.reply_detail = "minimal": the agent port tells whoever connects the tokens and the
weight only, never the maintenance reason nor nova-api's error, while --status (the control
socket) still shows both.

  1. reply_detail minimal, a maintenance flag with a reason, nova-api refusing connections
     (probe.url on a closed loopback port, fall 1): the agent port replies exactly
     'down drain' (no '#', no reason, no error); `--status` prints the reason and
     'connection refused'; `--status --json` says reply_detail "minimal" with flag.reason and
     health.reason set.
  2. flag mode lb with a reason: 'down 100% #lb-managed', the fixed word zdu-coordinator's
     cutover reads, and still no reason.
  3. SIGHUP with reply_detail full: the reply carries the reason and the error again (the
     same node, so the difference is the key alone); SIGHUP back to minimal hides them."""
from agentlib import Agent, check, main
from testutil import free_port

REASON = 'customer-4711 data migration'


def hidden(reply):
    return '#' not in reply and 'customer' not in reply and 'refused' not in reply


def reload_detail(agent, detail):
    agent.settings['agent']['reply_detail'] = detail
    agent.write_config()
    start = agent.log_size()
    agent.hup()
    agent.wait_log('configuration reloaded', start=start, timeout=10)


def run():
    dead = 'http://127.0.0.1:%d/v2.1/' % free_port()
    settings = {
        'agent': {'reply_detail': 'minimal'},
        'probe': {'enabled': True, 'url': dead, 'interval_ms': 100, 'timeout_ms': 100,
                  'connect_timeout_ms': 100, 'rise': 1, 'fall': 1},
    }
    with Agent(settings=settings) as agent:
        # 1. maintenance with a reason, nova-api failing
        r = agent.cli('--maintenance', 'on', '--reason', REASON)
        check(r.returncode == 0, 'maintenance on (exit 0)', r)
        reply, _ = agent.wait_reply('down drain', timeout=10)
        check(hidden(reply), 'agent port: "down drain", no text, no reason, no error', reply)
        r = agent.cli('--status')
        print(r.stdout)
        check(r.returncode == 0, '--status exit 0', r)
        check(REASON in r.stdout, '--status shows the maintenance reason', r.stdout)
        check('nova-api: connection refused' in r.stdout, '--status shows the probe error', r.stdout)
        st = agent.status()
        check(st['reply_detail'] == 'minimal' and st['reply'] == 'down drain',
              'status: reply_detail minimal, reply as the agent port sends it', st)
        check(st['flag']['reason'] == REASON and 'connection refused' in st['health']['reason'],
              'status JSON keeps the reason and the error', (st['flag'], st['health']))

        # 2. flag mode lb: the fixed word only
        r = agent.cli('--maintenance', 'on', '--mode', 'lb', '--reason', REASON)
        check(r.returncode == 0, 'maintenance on --mode lb (exit 0)', r)
        reply, _ = agent.wait_reply('down 100% #lb-managed', timeout=10)
        check('customer' not in reply and 'refused' not in reply,
              'mode lb: "#lb-managed" alone, no reason', reply)

        # 3. the same node with full detail, then minimal again
        agent.cli('--maintenance', 'on', '--reason', REASON)
        reload_detail(agent, 'full')
        reply, _ = agent.wait_reply(lambda x: x.startswith('down drain #'), timeout=10)
        check(REASON in reply and 'connection refused' in reply,
              'reply_detail full: the reason and the error are in the reply', reply)
        check(agent.status()['reply_detail'] == 'full', 'status: reply_detail full')
        reload_detail(agent, 'minimal')
        reply, _ = agent.wait_reply('down drain', timeout=10)
        check(hidden(reply), 'reloaded to minimal: hidden again', reply)


if __name__ == '__main__':
    main(run)
