#!/usr/bin/python3
"""The command line: status, maintenance with and without a daemon, check-config, usage.

  * `--status` (text) and `--status --json` (valid JSON: reply, flag, health, uptime_s,
    running) against a running daemon, before and after `--maintenance on`;
  * `--maintenance on --json`: the daemon's confirmation as JSON;
  * daemon stopped: `--maintenance on` writes the flag (exit 0, says the agent is not running),
    the next start replies drain; `--status` exits 1 and still shows the flag;
  * `--check-config`: exit 0 on a good config; exit 1 with 'FILE:LINE: group.key: ...' on
    out-of-range, unknown key, wrong type and bad value; exit 1 on a missing file;
  * usage errors exit 2 with 'Try ...--help'; `--version`; `--help`.
"""

import json
import os
import re

from agentlib import Agent, check, main, run_cli


def project_version():
    src = os.environ.get('ZDU_SOURCE_DIR') or os.path.join(os.path.dirname(__file__), '..', '..')
    with open(os.path.join(src, 'CMakeLists.txt')) as f:
        return re.search(r'project\(zdu-agent VERSION ([0-9.]+)', f.read()).group(1)


def run():
    agent = Agent()
    # ------------------------------------------------------------ daemon stopped
    r = agent.cli('--status')
    check(r.returncode == 1, 'stopped: --status exits 1', (r.returncode, r.stdout, r.stderr))
    check('does not answer' in r.stderr and 'maintenance: off' in r.stdout,
          'stopped: --status says so and shows the flag', (r.stdout, r.stderr))
    r = agent.cli('--status', '--json')
    js = json.loads(r.stdout)
    check(r.returncode == 1 and js['running'] is False and js['flag']['active'] is False,
          'stopped: --status --json is JSON with running=false', js)

    r = agent.cli('--maintenance', 'on', '--reason', 'offline upgrade')
    check(r.returncode == 0, 'stopped: --maintenance on exits 0', (r.returncode, r.stderr))
    check('not running' in r.stdout, 'stopped: the message says the agent is not running', r.stdout)
    with open(agent.flag_path) as f:
        text = f.read()
    check('mode=drain' in text and 'reason=offline upgrade' in text,
          'stopped: the flag file was written', text)
    check(re.search(r'^since=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$', text, re.M)
          and re.search(r'^by=\S+@\S+$', text, re.M), 'flag has since= and by=', text)
    r = agent.cli('--status', '--json')
    js = json.loads(r.stdout)
    check(js['flag']['active'] and js['flag']['reason'] == 'offline upgrade',
          'stopped: --status --json shows the flag from the file', js)

    agent.start()
    check(agent.reply() == 'up drain #maintenance: offline upgrade',
          'daemon started after the offline flag replies drain', agent.reply())

    # ------------------------------------------------------------ daemon running
    r = agent.cli('--status')
    check(r.returncode == 0, '--status exits 0', (r.returncode, r.stderr))
    check(re.search(r'^reply:\s+up drain #maintenance: offline upgrade$', r.stdout, re.M)
          and re.search(r'^maintenance: drain, "offline upgrade" since \S+ by \S+', r.stdout, re.M)
          and re.search(r'^uptime:\s+\d+s \(pid %d, zdu-agent ' % agent.proc.pid, r.stdout, re.M),
          '--status text shows reply, maintenance and uptime/pid', r.stdout)
    r = agent.cli('--status', '--json')
    js = json.loads(r.stdout)
    check(r.returncode == 0 and r.stdout.count('\n') == 1, '--status --json: one JSON line, exit 0')
    for key in ('reply', 'flag', 'health', 'uptime_s'):
        check(key in js, '--status --json has %r' % key, sorted(js))
    check(js['running'] is True and js['pid'] == agent.proc.pid and js['ok'] is True,
          'json: running, pid of the daemon', js)
    check(js['reply'] == 'up drain #maintenance: offline upgrade' and js['flag']['active']
          and js['flag']['mode'] == 'drain' and js['health']['state'] == 'unchecked'
          and isinstance(js['uptime_s'], int), 'json: reply, flag, health, uptime_s', js)

    r = agent.cli('--maintenance', 'off')
    check(r.returncode == 0 and 'HAProxy now gets: up ready 100%' in r.stdout,
          'running: --maintenance off confirms the new reply', (r.returncode, r.stdout, r.stderr))
    check(not os.path.exists(agent.flag_path), 'flag file removed')
    r = agent.cli('--maintenance', 'on', '--mode', 'maint', '--reason', 'disk swap', '--json')
    js = json.loads(r.stdout)
    check(r.returncode == 0 and js['flag']['mode'] == 'maint'
          and js['reply'].endswith('maint #maintenance: disk swap'),
          '--maintenance on --mode maint --json: confirmation JSON', js)
    r = agent.cli('--maintenance', 'on', '--reason', 'line\nbreak\x01')
    check(r.returncode == 0 and agent.reply() == 'up drain #maintenance: line?break?',
          'control characters in --reason are sanitised in the reply', agent.reply())
    r = agent.cli('--maintenance', 'off')
    check(r.returncode == 0 and agent.reply() == 'up ready 100%', 'off again', agent.reply())
    rc = agent.stop()
    check(rc == 0, 'daemon SIGTERM: exit 0', rc)

    # ------------------------------------------------------------ --check-config
    r = agent.cli('--check-config')
    check(r.returncode == 0 and 'configuration ok' in r.stdout, '--check-config: good config',
          (r.returncode, r.stdout, r.stderr))
    good = agent.config_text()
    bad = [
        ('agent.weight', 'out of range', 'agent: {\n  weight = 500;\n};\n', 2),
        ('agent.bogus', 'unknown key', 'agent: {\n  weight = 50;\n  bogus = 1;\n};\n', 3),
        ('agent.listen', 'expected a list', 'agent: {\n  listen = 9777;\n};\n', 2),
        ('agent.listen', 'is not host:port', 'agent:\n{\n  listen = [ "nowhere" ];\n};\n', 3),
        ('log.level', 'unknown value', 'log: { level = "loud"; };\n', 1),
        ('flag.file', 'absolute', 'flag: { file = "relative/x"; };\n', 1),
    ]
    path = os.path.join(agent.workdir, 'bad.conf')
    for key, why, text, line in bad:
        with open(path, 'w') as f:
            f.write(text)
        r = run_cli(['--config', path, '--check-config'])
        pat = r'^zdu-agent: %s:%d: %s: .*%s' % (re.escape(path), line, re.escape(key), re.escape(why))
        check(r.returncode == 1 and re.search(pat, r.stderr, re.M),
              '--check-config: %s %s -> exit 1, "FILE:%d: %s: ..."' % (key, why, line, key),
              (r.returncode, r.stderr))
    with open(path, 'w') as f:
        f.write(good + 'agent: { weight = ; };\n')
    r = run_cli(['--config', path, '--check-config'])
    check(r.returncode == 1 and re.search(r'^zdu-agent: %s:\d+: ' % re.escape(path), r.stderr, re.M),
          '--check-config: syntax error -> exit 1 with FILE:LINE', (r.returncode, r.stderr))
    r = run_cli(['--config', os.path.join(agent.workdir, 'missing.conf'), '--check-config'])
    check(r.returncode == 1 and 'missing.conf' in r.stderr, '--check-config: missing file -> 1',
          (r.returncode, r.stderr))

    # ------------------------------------------------------------ usage
    usage = [
        ['--maintenance', 'maybe'],
        ['--bogus'],
        ['--mode', 'drain'],
        ['--reason', 'x'],
        ['--maintenance', 'on', '--mode', 'sideways'],
        ['--maintenance', 'on', '--mode', 'off'],
        ['--status', '--check-config'],
        ['--status', '--maintenance', 'off'],
        ['--foreground', '--status'],
        ['--json'],
        ['--status', 'extra'],
        ['--maintenance', 'on', '--wait', '0'],
        ['--maintenance'],
    ]
    for args in usage:
        r = agent.cli(*args)
        check(r.returncode == 2 and 'zdu-agent --help' in r.stderr and not r.stdout,
              'usage error exits 2: %s' % ' '.join(args), (r.returncode, r.stdout, r.stderr))
    check(not os.path.exists(agent.flag_path), 'usage errors did not touch the flag')

    r = run_cli(['--version'])
    check(r.returncode == 0 and r.stdout == 'zdu-agent %s\n' % project_version(),
          '--version prints "zdu-agent %s"' % project_version(), r.stdout)
    for opt in ('--help', '-h'):
        r = run_cli([opt])
        check(r.returncode == 0 and r.stdout.startswith('Usage: zdu-agent')
              and '--maintenance on|off' in r.stdout and 'Exit codes' in r.stdout,
              '%s prints the usage on stdout, exit 0' % opt, r.stdout[:200])


if __name__ == '__main__':
    main(run)
