#!/usr/bin/python3
"""sd_notify: what systemd (Type=notify, packaging/systemd/zdu-agent.service) hears.

The agent runs with NOTIFY_SOCKET = an absolute path in a temp dir where this script
holds a unix datagram socket (SO_PASSCRED: every message must come from the agent's pid):

  * once started: READY=1 with STATUS=<the first reply> ('up ready 100%', probe off);
  * a maintenance flag set/cleared with the CLI: STATUS=<new reply> each time, nothing else;
  * SIGHUP: RELOADING=1, then READY=1 with STATUS=<the reply>; the agent keeps answering;
  * SIGTERM: STOPPING=1, exit 0.
The project always builds with libsystemd on Debian: a build without it (notify.c without
HAVE_LIBSYSTEMD sends nothing) fails this test, saying so.
"""

import os
import signal

from agentlib import check, main
from notifylib import NotifyAgent, NotifySocket
from testutil import tempdir


def run():
    wd = tempdir('zdu-it-notify-')
    path = os.path.join(wd, 'notify.sock')
    check(len(path.encode()) < 108, 'notify socket path fits sockaddr_un', path)
    ns = NotifySocket(path)
    a = NotifyAgent(path, workdir=wd, start=False)
    try:
        a.start()
        ready = ns.expect(a, 'READY=1\nSTATUS=up ready 100%', what='READY=1 + first reply')
        check(a.reply() == ready.split('STATUS=', 1)[1], 'STATUS is the reply HAProxy gets',
              a.reply())
        extra = ns.quiet(0.5)
        check(extra == [], 'nothing else after READY=1 while nothing changes', extra)

        # flag flips: one STATUS per reply change
        r = a.cli('--maintenance', 'on', '--reason', 'notify check')
        check(r.returncode == 0, 'CLI --maintenance on exits 0', r)
        ns.expect(a, 'STATUS=up drain #maintenance: notify check', what='STATUS after flag on')
        check(a.reply() == 'up drain #maintenance: notify check', 'reply agrees', a.reply())
        r = a.cli('--maintenance', 'off')
        check(r.returncode == 0, 'CLI --maintenance off exits 0', r)
        ns.expect(a, 'STATUS=up ready 100%', what='STATUS after flag off')
        extra = ns.quiet(0.5)
        check(extra == [], 'no duplicate STATUS for one change', extra)

        # reload
        a.hup()
        ns.expect(a, 'RELOADING=1', what='RELOADING=1 on SIGHUP')
        ns.expect(a, 'READY=1\nSTATUS=up ready 100%', what='READY=1 after the reload')
        a.wait_log('configuration reloaded', timeout=5)
        check(a.reply() == 'up ready 100%', 'still answering after the reload', a.reply())

        # a reload that fails (broken file) still ends with READY=1
        a.write_config(a.config_text() + 'agent: { weight = "heavy"; };\n')
        a.hup()
        ns.expect(a, 'RELOADING=1', what='RELOADING=1 on a failing reload')
        ns.expect(a, 'READY=1\nSTATUS=up ready 100%', what='READY=1 after the failed reload')
        a.wait_log('keeping the running configuration', timeout=5)
        a.write_config()

        # a reload that changes the reply: STATUS for the change, then READY with it
        a.weight = 50
        a.write_config()
        a.hup()
        msgs = [ns.recv(10) for _ in range(3)]
        texts = [m[1] if m else None for m in msgs]
        check(texts[0] == 'RELOADING=1' and texts[-1] == 'READY=1\nSTATUS=up ready 50%'
              and 'STATUS=up ready 50%' in texts,
              'weight reload: RELOADING=1, STATUS=up ready 50%, READY=1 with the new reply',
              texts)

        # stop
        a.proc.send_signal(signal.SIGTERM)
        ns.expect(a, 'STOPPING=1', what='STOPPING=1 on SIGTERM')
        rc = a.proc.wait(10)
        check(rc == 0, 'agent exits 0', rc)
        bad = [ln for ln in a.log_text().splitlines()
               if 'Sanitizer' in ln or 'runtime error:' in ln]
        check(bad == [], 'no sanitizer report in the log', bad[:10])
        extra = ns.quiet(0.3)
        check(extra == [], 'nothing after STOPPING=1', extra)
    finally:
        a.stop()
        ns.close()


if __name__ == '__main__':
    main(run)
