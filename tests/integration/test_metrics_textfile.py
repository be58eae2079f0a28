#!/usr/bin/python3
"""metrics.textfile_dir: node_exporter's textfile collector gets the agent's metrics.

  1. The file zdu_agent.prom appears at start, is valid (promtool check metrics) and says
     service "nova-api" is not in maintenance.
  2. On a change it is rewritten at once, not at the next interval (textfile_interval_ms is
     60 s here): `zdu-agent --maintenance on` shows within 1 s, with its source (file) and mode.
  3. Never half a file: a reader polling it while the state flips 20 times always finds a
     whole exposition (ends with a newline, parses), and no temporary file is left that
     node_exporter would read (only *.prom counts; the temporary is a dot file).
  4. Every textfile_interval_ms it is rewritten even without a change (ages and counters move).
  5. A missing directory is an error at start naming metrics.textfile_dir.
"""
import os
import time

from agentlib import Agent, check, main
from metricslib import parse, promtool, promtool_check, value
from testutil import check_within, tempdir

ADDR = '127.0.0.71'


def read(path):
    with open(path) as f:
        return f.read()


def test():
    tf = tempdir('zdu-tf-')
    prom = os.path.join(tf, 'zdu_agent.prom')
    a = Agent(addr=ADDR, settings={'metrics': {'textfile_dir': tf,
                                               'textfile_interval_ms': 60000}})
    a.start()
    check_within(lambda: os.path.exists(prom), 5, 'zdu_agent.prom written at start')
    text = read(prom)
    s = parse(text)
    check(value(s, 'zdu_agent_maintenance', service='nova-api') == 0, 'not in maintenance', text)
    check(value(s, 'zdu_agent_build_info', version=a.status()['version']) == 1, 'build_info')
    if promtool():
        ok, out = promtool_check(text)
        check(ok, 'promtool check metrics accepts the textfile', out)

    # 2. on change, not on the 60 s interval
    t0 = time.monotonic()
    r = a.cli('--maintenance', 'on', '--reason', 'metrics test')
    check(r.returncode == 0, 'maintenance on', r.stderr)

    def flagged():
        s = parse(read(prom))
        return (value(s, 'zdu_agent_maintenance', service='nova-api') == 1 and
                value(s, 'zdu_agent_maintenance_flag', service='nova-api', source='file') == 1 and
                value(s, 'zdu_agent_maintenance_mode', service='nova-api', mode='drain') == 1)
    check_within(flagged, 1.0, 'the flag in the textfile within 1 s of the CLI')
    print('flag to textfile: %.3f s' % (time.monotonic() - t0))
    s = parse(read(prom))
    check(value(s, 'zdu_agent_reply_administrative', service='nova-api', state='drain') == 1,
          'reply drain in the textfile')
    check(value(s, 'zdu_agent_maintenance_since_timestamp_seconds', service='nova-api')
          and abs(value(s, 'zdu_agent_maintenance_since_timestamp_seconds',
                        service='nova-api') - time.time()) < 120, 'since timestamp near now')

    # 3. whole files only, while the state flips
    reads, others = 0, set()
    for i in range(20):
        a.write_flag('mode=%s\nreason=flip %d\n' % ('maint' if i % 2 else 'drain', i))
        deadline = time.monotonic() + 0.1
        while time.monotonic() < deadline:
            text = read(prom)
            if not (text.endswith('\n') and '# TYPE zdu_agent_drained gauge' in text):
                raise AssertionError('half a textfile read: %r' % text[-200:])
            parse(text)
            reads += 1
            others.update(n for n in os.listdir(tf) if n != 'zdu_agent.prom')
    check(reads > 20, 'read %d times while the flag flipped 20 times: always whole' % reads)
    check(all(n.startswith('.') and not n.endswith('.prom') for n in others),
          'temporaries seen (%d) are dot files node_exporter skips' % len(others), others)
    check_within(lambda: not [n for n in os.listdir(tf) if n != 'zdu_agent.prom'], 2,
                 'no temporary file left beside zdu_agent.prom', lambda: os.listdir(tf))
    r = a.cli('--maintenance', 'off')
    check(r.returncode == 0, 'maintenance off', r.stderr)
    check_within(lambda: value(parse(read(prom)), 'zdu_agent_maintenance', service='nova-api') == 0,
                 1, 'maintenance off: the textfile says 0 within 1 s',
                 lambda: (a.status()['reply'], a.status()['metrics']))
    a.stop()

    # 4. the interval: no change, still rewritten
    b = Agent(addr=ADDR, name='b', settings={'metrics': {'textfile_dir': tf,
                                                         'textfile_interval_ms': 1000}})
    b.start()
    check_within(lambda: os.path.exists(prom), 5, 'written at start')
    m0 = os.stat(prom).st_mtime_ns
    check_within(lambda: os.stat(prom).st_mtime_ns != m0, 2.5,
                 'rewritten within textfile_interval_ms (1 s) without a change')
    # the rename is seen before the loop hears the write is done: its count follows at once
    check_within(lambda: b.status()['metrics']['writes'] >= 2, 1, 'status counts the writes',
                 lambda: b.status()['metrics'])
    st = b.status()['metrics']
    check(st['write_errors'] == 0, 'no write error', st)
    b.stop()

    # 5. a directory that is not there
    c = Agent(addr=ADDR, name='c', settings={'metrics': {'textfile_dir': tf + '/missing'}})
    r = c.run_foreground(timeout=10)
    out = (r.stdout or '') + (r.stderr or '') + c.log_text()
    check(r.returncode != 0 and 'metrics.textfile_dir' in out and 'missing' in out,
          'a missing directory stops the start, naming metrics.textfile_dir', out[-400:])


if __name__ == '__main__':
    main(test)
