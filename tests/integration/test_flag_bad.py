#!/usr/bin/python3
"""A flag file the agent cannot understand drains the node (fail safe) and says why.

For each of: garbage text, an unknown mode, a 1 MiB file, a directory in place of the file,
a FIFO in place of the file (nobody writing to it), a NUL byte:
  * the reply becomes 'up drain #maintenance: bad flag: REASON' with the expected REASON;
  * every probe meanwhile is answered quickly (the daemon never blocks on the bad file);
  * `--status --json` shows the error, and the log names the file and the problem;
  * removing the bad thing brings back 'up ready 100%'.
"""

import os
import statistics

from agentlib import Agent, check, check_within, main

READY = 'up ready 100%'
PREFIX = 'up drain #maintenance: bad flag: '
FAST_S = 0.05   # "quickly": a probe normally takes well under 1 ms (median of 20)
SLOW_S = 1.0    # no single probe slower than this, even on a loaded machine


def probe_fast(agent, what):
    """20 probes: the median is quick and none is slow (a blocked loop would take the whole
    2 s probe timeout, or never answer)."""
    times = []
    for _ in range(20):
        data, dt = agent.probe(timeout=2)
        times.append(dt)
    med, worst = statistics.median(times), max(times)
    check(med < FAST_S and worst < SLOW_S, '%s: 20 probes answered, median %.1f ms, max %.1f ms'
          % (what, med * 1000, worst * 1000), (med, worst))
    return worst


def run():
    with Agent() as agent:
        path = agent.flag_path
        check(agent.reply() == READY, 'ready without a flag', agent.reply())

        def garbage():
            agent.write_flag('this is not a flag\n')

        def unknown_mode():
            agent.write_flag('mode=sideways\nreason=whatever\n')

        def huge():
            agent.write_flag(b'reason=' + b'x' * (1 << 20) + b'\n')

        def directory():
            os.mkdir(path)

        def fifo():
            os.mkfifo(path)

        def nul():
            agent.write_flag(b'mode=drain\0\n')

        def cleanup():
            if os.path.isdir(path) and not os.path.islink(path):
                os.rmdir(path)
            elif os.path.lexists(path):
                os.unlink(path)

        cases = [
            ('garbage', garbage, 'line 1: expected key=value'),
            ('unknown mode', unknown_mode, "line 1: unknown mode 'sideways'"),
            ('1 MiB file', huge, 'over 4096 bytes'),
            ('directory', directory, 'not a regular file'),
            ('FIFO', fifo, 'not a regular file'),
            ('NUL byte', nul, 'contains a NUL byte'),
        ]
        for name, make, why in cases:
            log_start = agent.log_size()
            make()
            want = PREFIX + why
            check_within(lambda: agent.reply() == want, 5, '%s: reply is %r' % (name, want),
                         detail=agent.reply, interval=0.005)
            probe_fast(agent, name)
            st = agent.status()
            check(st['flag']['active'] and st['flag']['mode'] == 'drain'
                  and st['flag']['error'] == why, '%s: status shows the error' % name, st['flag'])
            cli = agent.cli('--status')
            check(cli.returncode == 0 and ('flag error: ' + why) in cli.stdout,
                  '%s: --status prints the flag error' % name, cli.stdout)
            line = agent.wait_log('flag not understood', start=log_start)
            text = agent.log_text()[log_start:]
            err_lines = [l for l in text.splitlines() if 'flag not understood' in l]
            check(any(why in l and path in l for l in err_lines),
                  '%s: the log names the file and the problem' % name, err_lines or line)
            # Stays so, including across the periodic re-read: trigger one with a SIGHUP-free
            # control 'sync' (re-reads the file) and look again.
            agent.control('sync')
            check(agent.reply() == want, '%s: unchanged after a re-read' % name, agent.reply())
            cleanup()
            check_within(lambda: agent.reply() == READY, 5, '%s removed: ready again' % name,
                         detail=agent.reply, interval=0.005)

        # A FIFO with a writer holding it open (and writing nothing) must not block either.
        os.mkfifo(path)
        wfd = os.open(path, os.O_RDWR | os.O_NONBLOCK)   # O_RDWR: does not wait for a reader
        try:
            agent.wait_reply(PREFIX + 'not a regular file', timeout=5)
            agent.control('sync')
            probe_fast(agent, 'FIFO held open by a writer')
        finally:
            os.close(wfd)
            os.unlink(path)
        agent.wait_reply(READY, timeout=5)
        check(agent.running(), 'agent still running after all bad flags')
        rc = agent.stop()
        check(rc == 0, 'SIGTERM: exit 0', rc)


if __name__ == '__main__':
    main(run)
