#!/usr/bin/python3
"""The maintenance flag is persistent, and changed by configuration management directly.

  * set with the CLI, agent stopped (SIGTERM, exit 0), started again -> the very first probe
    that connects (the port is polled every 5 ms from the moment of the start) gets the drain
    reply, never 'up ready';
  * the flag file created by an atomic rename, created by `touch` (empty file), replaced by
    rename with another mode, and removed -> the reply changes within 100 ms: the agent's
    own log time of the switch is asserted, the port polled every 5 ms is measured too (and
    must show the change within 2 s; its figure includes the poller's own scheduling).
    flag.poll_interval_ms is 60 s, so this is the file watch at work, not the re-read.
Fixed bug, kept as a regression check: after the flag directory is replaced, the watch is
re-armed (changes seen within 100 ms again).
"""

import os
import statistics
import subprocess
import time

from agentlib import Agent, check, check_within, main
from testutil import wait_until

LATENCY_LIMIT_MS = 100
POLLED_LIMIT_MS = 2000
SAMPLES = int(os.environ.get('ZDU_FLAG_SAMPLES', '5'))
READY = 'up ready 100%'


def timed_change(agent, action, want):
    """Do ACTION(); poll the port every 5 ms until the reply is WANT.

    Returns (polled_ms, agent_ms): the time until a probe saw the new reply, and the time
    until the agent switched it according to its own log (ms resolution). The second does
    not include this poller's own scheduling delays on a loaded machine."""
    before = agent.reply()
    if want(before) if callable(want) else before == want:
        raise AssertionError('precondition: reply is already %r before the change' % before)
    start = agent.log_size()
    action()
    # Timed from the end of ACTION (a rename is atomic there; touch(1) is a process whose
    # start-up on a loaded machine is not the agent's latency).
    t_wall = time.time()
    t0 = time.monotonic()
    deadline = t0 + 5.0
    while True:
        r = agent.reply()
        if (want(r) if callable(want) else r == want):
            polled = (time.monotonic() - t0) * 1000
            break
        if time.monotonic() > deadline:
            raise AssertionError('reply still %r 5 s after the change, want %r' % (r, want))
        time.sleep(0.005)
    changes = wait_until(lambda: [c for c in agent.reply_changes(start) if c[1] == r],
                         timeout=2, message='log line: reply now "%s"' % r)
    # The log has ms resolution, and the agent may switch before ACTION returns: clamp at 0.
    return polled, max(0.0, (changes[0][0] - t_wall) * 1000)


def run():
    with Agent() as agent:
        # ---------------------------------------------------------------- restart
        r = agent.cli('--maintenance', 'on', '--reason', 'kernel update')
        check(r.returncode == 0, 'maintenance on', r.stderr)
        drain = 'up drain #maintenance: kernel update'
        check(agent.reply() == drain, 'drain reply before the restart', agent.reply())
        for i in range(3):
            rc = agent.stop()
            check(rc == 0, 'SIGTERM: exit 0', rc)
            check(os.path.exists(agent.flag_path), 'flag file still there after the stop')
            first = agent.first_reply_after_start()
            check(first == drain, 'restart #%d: the first reply is the drain' % (i + 1),
                  first)
        r = agent.cli('--maintenance', 'off')
        check(r.returncode == 0, 'maintenance off', r.stderr)
        agent.stop()
        first = agent.first_reply_after_start()
        check(first == READY, 'after off + restart the first reply is ready', first)

        # ---------------------------------------------------------------- direct changes
        def rename_drain():
            agent.write_flag('mode=drain\nreason=cfgmgmt\n', atomic=True)

        def rename_maint():
            agent.write_flag('mode=maint\nreason=cfgmgmt hard\n', atomic=True)

        def touch():
            subprocess.run(['touch', agent.flag_path], check=True)

        def touch_py():
            with open(agent.flag_path, 'ab'):
                pass

        cases = [
            ('rename (create)', rename_drain, 'up drain #maintenance: cfgmgmt'),
            # The contract writes 'maint #...'; the agent sends 'up maint #...' (both tokens,
            # as docs/haproxy-agent.md advises): either is a MAINT for HAProxy.
            ('rename (replace, maint)', rename_maint,
             lambda r: r in ('maint #maintenance: cfgmgmt hard', 'up maint #maintenance: cfgmgmt hard')),
            ('remove', agent.remove_flag, READY),
            ('touch(1)', touch, 'up drain #maintenance'),
            ('remove', agent.remove_flag, READY),
            ('open(O_CREAT)', touch_py, 'up drain #maintenance'),
            ('remove', agent.remove_flag, READY),
        ]
        lat = {}
        for n in range(SAMPLES):
            for name, action, want in cases:
                # Not an assertion: let the agent settle so samples are independent.
                time.sleep(0.02)
                lat.setdefault(name, []).append(timed_change(agent, action, want))
        polled_all, agent_all = [], []
        for name, v in lat.items():
            p = [x[0] for x in v]
            a = [x[1] for x in v]
            polled_all += p
            agent_all += a
            print('timing: flag %-24s -> reply seen by a 5 ms poller in ms: min %.1f median %.1f '
                  'max %.1f; agent switched (log) max %.0f (n=%d)'
                  % (name, min(p), statistics.median(p), max(p), max(a), len(v)), flush=True)
        # The limit is asserted on when the agent switched its reply (its own log, taken in
        # the event loop): what a 5 ms poller sees adds this Python poller's scheduling, which
        # on a loaded 2-core machine (load 7 seen) alone exceeds 100 ms. The poller figure
        # must still show every change promptly through the port.
        check(max(agent_all) <= LATENCY_LIMIT_MS, 'every direct flag change applied by the agent '
              'within %d ms' % LATENCY_LIMIT_MS, '%.0f ms' % max(agent_all))
        check(max(polled_all) <= POLLED_LIMIT_MS, 'every change seen through the port within '
              '%d ms by the poller' % POLLED_LIMIT_MS, sorted(polled_all)[-3:])
        if statistics.median(polled_all) > LATENCY_LIMIT_MS:
            print('note: poller median %.0f ms: the machine is overloaded'
                  % statistics.median(polled_all))
        st = agent.status()
        check(st['flag']['active'] is False and st['reply'] == READY, 'status agrees at the end',
              st['reply'])
        rc = agent.stop()
        check(rc == 0, 'SIGTERM: exit 0', rc)


def fixed_bug_directory_replaced():
    """Flag directory replaced (rm -r + mkdir, as configuration management or tmpfiles may
    do): the file watch stays on the deleted directory and is never re-armed
    (agent/daemon/flag_file.c on_poll() re-watches only if ff->watching was cleared, and libuv
    reports no error for a deleted watched directory), so every later change waits for the
    periodic re-read (poll_interval_ms, 1 s by default) instead of ~1 ms."""
    import shutil
    with Agent(settings={'flag': {'poll_interval_ms': 200}}) as agent:
        agent.write_flag('mode=drain\nreason=before\n')
        agent.wait_reply('up drain #maintenance: before', timeout=2)
        agent.remove_flag()
        agent.wait_reply(READY, timeout=2)
        start = agent.log_size()
        shutil.rmtree(agent.flag_dir)
        os.mkdir(agent.flag_dir)
        check(os.listdir(agent.flag_dir) == [], 'flag directory replaced by a new, empty one')
        # The agent notices within a few poll intervals and watches the new directory.
        check_within(lambda: 'for flag changes again' in agent.log_text()[start:], 3,
                     'the agent says it watches the new directory', detail=agent.log_tail,
                     interval=0.02)
        lat = []
        for i in range(5):
            time.sleep(0.02)
            lat.append(timed_change(agent, lambda: agent.write_flag('mode=drain\n'),
                                    'up drain #maintenance')[1])
            time.sleep(0.02)
            lat.append(timed_change(agent, agent.remove_flag, READY)[1])
        print('timing: flag changes after the directory was replaced (agent log), ms: %s'
              % ' '.join('%.1f' % x for x in lat))
        check(max(lat) <= LATENCY_LIMIT_MS, 'changes in the new directory seen within %d ms'
              % LATENCY_LIMIT_MS, '%.1f ms' % max(lat))


def run_all():
    run()
    fixed_bug_directory_replaced()


if __name__ == '__main__':
    main(run_all)
