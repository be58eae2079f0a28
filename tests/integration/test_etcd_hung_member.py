#!/usr/bin/python3
"""A member that hangs (SIGSTOP: its sockets stay open, it answers nothing) must not keep the
agent's watch: the agent reads its keys from the watch's member every etcd.watch_check_ms, and
one that does not answer within etcd.timeout_ms is left for another member.

The agent's first endpoint is the leader, so the member it watches through is the leader; it is
stopped with SIGSTOP (the other two elect a new leader meanwhile, and a watch request made
during the election is refused), and a drain is then written through the other two. The agent replies the drain within watch_check_ms + timeout_ms + a reconnect,
and its reply never shows anything but ready, then the drain. SIGCONT at the end."""
import os
import signal
import time

from agentlib import Agent, check, main
from etcdlib import (EtcdCluster, ReplyRecorder, agent_etcd_settings, flag_value, node_key,
                     wait_etcd_state)
from testutil import tempdir, wait_until

READY = 'up ready 100%'
CHECK_MS = 500
TIMEOUT_MS = 500


def run():
    work = tempdir('zdu-it-etcd-hung-')
    with EtcdCluster(work) as ec:
        lead = ec.member(ec.leader())
        eps = [lead.client_url] + [e for e in ec.endpoints if e != lead.client_url]
        settings = agent_etcd_settings(ec, node='n1', watch_check_ms=CHECK_MS, timeout_ms=TIMEOUT_MS,
                                       endpoints=eps)
        with Agent(workdir=work, settings=settings) as agent:
            st, _ = wait_etcd_state(agent, lambda s: s.get('reachable') is True, 'reachable')
            ep = st['endpoint']
            m = ec.member(ep)
            print('the agent watches through %s (%s, the leader: %s)' % (ep, m.name, m is lead))
            rec = ReplyRecorder(agent)
            rec.start()
            stopped = False
            try:
                old_id = ec.member_status(m.index)['header']['member_id']
                os.kill(m.proc.pid, signal.SIGSTOP)
                stopped = True
                others = [e for e in ec.endpoints if e != ep]
                t_stop = time.monotonic()

                # The write waits for the new leader: one made during the election may
                # time out and still be applied later, after the test moved on.
                def new_leader():
                    for e in others:
                        try:
                            ld = ec.member_status(e).get('leader')
                        except Exception:
                            return False
                        if not ld or ld in ('0', old_id):
                            return False
                    return True
                wait_until(new_leader, timeout=10, message='the other two elect a new leader')
                print('new leader elected %.2f s after SIGSTOP' % (time.monotonic() - t_stop))
                t0 = time.monotonic()
                ec.put(node_key('n1'), flag_value('while a member hangs'), endpoint=others[0])
                reply, dt = agent.wait_reply('up drain #maintenance: while a member hangs', timeout=15)
                dt = time.monotonic() - t0
                print('drain seen %.2f s after the write (watch_check_ms %d, timeout_ms %d)'
                      % (dt, CHECK_MS, TIMEOUT_MS))
                st, _ = wait_etcd_state(agent, lambda s: s.get('reachable') is True
                                        and s.get('endpoint') != ep, 'reachable through another member')
                check(st['endpoint'] in others, 'the agent moved to %s' % st['endpoint'])
                wait_until(lambda: rec.last() == reply, timeout=5, message='the recorder sees the drain')
            finally:
                if stopped:
                    os.kill(m.proc.pid, signal.SIGCONT)
                rec.stop()
            seq = rec.sequence()
            print('recorder: %d probes, %d errors %s' % (rec.probes, len(rec.errors), rec.errors[:3]))
            check(seq == [READY, 'up drain #maintenance: while a member hangs'],
                  'replies: ready, then the drain, nothing else', seq)
            ec.delete(node_key('n1'))
            agent.wait_reply(READY, timeout=10)


if __name__ == '__main__':
    main(run)
