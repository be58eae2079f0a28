#!/usr/bin/python3
"""A scenario's timeline as a PNG (matplotlib, Debian's python3-matplotlib).

    tests/e2e/timeline.py SCENARIO_DIR [-o OUT.png] [--title TEXT]
    tests/e2e/timeline.py $ZDU_BUILD_DIR/e2e/work/zdu $ZDU_BUILD_DIR/e2e/work/cutover

Reads what the e2e leaves in a scenario's directory and draws, on one time axis:
  - each server's state on each load balancer (lbN.log: HAProxy's "Server nova-api/nodeX is
    ..." lines and the agent's replies it logs), as coloured bars: UP, DRAIN, MAINT, DOWN;
  - requests/s, failed/s (connection errors, resets, timeouts, 5xx) and 406/s, per second
    (records.jsonl, loadgen's one line per request);
  - the coordinator's steps (coordinator.jsonl, its --json events) as bands, named by node.
Each input is optional; the picture shows what is there. Writes SCENARIO_DIR/timeline.png
unless -o names another file.
"""
import argparse
import collections
import datetime
import glob
import json
import os
import re
import sys

STATE_COLOURS = {'UP': '#2ca02c', 'DRAIN': '#ff7f0e', 'MAINT': '#7f7f7f', 'DOWN': '#d62728'}
STEP_COLOURS = {'preflight': '#dddddd', 'capacity': '#eeeeee', 'drain': '#fde0c5',
                'wait-drained': '#fdd0a2', 'upgrade': '#c6dbef', 'wait-healthy': '#c7e9c0',
                'undrain': '#e5f5e0', 'wait-up': '#d9f0d3', 'switch': '#dadaeb'}
# HAProxy's syslog lines as the e2e's HAProxy writes them to lbN.log (-db, log stderr).
LOG_LINE = re.compile(r'^<\d+>(\S+) (.*)$')
SERVER = re.compile(r'[Ss]erver (\S+)/(\S+) ')


def utc_seconds(text):
    return datetime.datetime.fromisoformat(text.replace('Z', '+00:00')).timestamp()


def server_state(msg):
    """The state a HAProxy message puts a server in, or None."""
    if 'maintenance' in msg and ('enters' in msg or 'going DOWN' in msg or 'is DOWN' in msg):
        return 'MAINT'
    if 'drain' in msg.lower() and ('enter' in msg or 'is DRAIN' in msg or 'to drain' in msg):
        return 'DRAIN'
    if re.search(r'\bis (going )?DOWN\b', msg) or 'is DOWN' in msg:
        return 'DOWN'
    if re.search(r'\bis UP\b', msg) or 'is leaving maintenance' in msg or 'leaving forced drain' in msg:
        return 'UP'
    if 'via agent : up drain' in msg or 'via agent : drain' in msg:
        return 'DRAIN'
    if 'via agent : maint' in msg or 'via agent : up maint' in msg:
        return 'MAINT'
    return None


def lb_states(path):
    """{server: [(t, state), ...]} from one load balancer's log, changes only."""
    out = collections.defaultdict(list)
    with open(path, errors='replace') as f:
        for line in f:
            m = LOG_LINE.match(line.strip())
            if not m:
                continue
            s = SERVER.search(m.group(2))
            state = server_state(m.group(2)) if s else None
            if not state:
                continue
            t, name = utc_seconds(m.group(1)), s.group(2)
            if not out[name] or out[name][-1][1] != state:
                out[name].append((t, state))
    return out


def request_rates(path):
    """(seconds, requests/s, failed/s, 406/s) per whole second."""
    req, failed, n406 = collections.Counter(), collections.Counter(), collections.Counter()
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            sec = int(r['t'])
            req[sec] += 1
            st = r.get('st') or 0
            if r.get('err') or st == 0 or st >= 500:
                failed[sec] += 1
            elif st == 406:
                n406[sec] += 1
    secs = sorted(req)
    return secs, [req[s] for s in secs], [failed[s] for s in secs], [n406[s] for s in secs]


def coordinator_steps(path):
    """[(start, end, node, step)] from the coordinator's --json events."""
    bands, cur = [], None
    last = None
    with open(path) as f:
        for line in f:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            t = utc_seconds(ev['time'])
            last = t
            key = (ev.get('node') or '', ev.get('step'))
            if not key[1] or (cur and cur[2:] == key):
                continue
            if cur:
                bands.append((cur[0], t, cur[2], cur[3]))
            cur = (t, None, key[0], key[1])
    if cur and last is not None:
        bands.append((cur[0], last, cur[2], cur[3]))
    return bands


def draw(scenario_dir, out, title=None):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    lbs = {os.path.basename(p)[:-4]: lb_states(p)
           for p in sorted(glob.glob(os.path.join(scenario_dir, 'lb*.log')))}
    rec = os.path.join(scenario_dir, 'records.jsonl')
    coord = os.path.join(scenario_dir, 'coordinator.jsonl')
    rates = request_rates(rec) if os.path.exists(rec) else None
    steps = coordinator_steps(coord) if os.path.exists(coord) else []
    times = [t for lb in lbs.values() for ch in lb.values() for t, _ in ch]
    times += (rates[0] if rates else []) + [b[0] for b in steps] + [b[1] for b in steps]
    if not times:
        raise SystemExit('%s: nothing to draw (no lb*.log lines, records.jsonl or coordinator.jsonl)'
                         % scenario_dir)
    t0, t1 = min(times), max(times) + 1

    fig, (ax_lb, ax_rate) = plt.subplots(2, 1, figsize=(8, 4.5), sharex=True,
                                         gridspec_kw={'height_ratios': [1, 1]})
    rows = [(lb, srv) for lb in sorted(lbs) for srv in sorted(lbs[lb])]
    for y, (lb, srv) in enumerate(rows):
        ch = lbs[lb][srv]
        for i, (t, state) in enumerate(ch):
            end = ch[i + 1][0] if i + 1 < len(ch) else t1
            ax_lb.broken_barh([(t - t0, end - t)], (y - 0.4, 0.8), color=STATE_COLOURS[state],
                              zorder=2)
    ax_lb.set_yticks(range(len(rows)))
    ax_lb.set_yticklabels(['%s %s' % r for r in rows], fontsize=7)
    ax_lb.set_ylim(-0.6, max(len(rows), 1) - 0.4)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in STATE_COLOURS.values()]
    ax_lb.legend(handles, list(STATE_COLOURS), fontsize=6, ncol=4, loc='upper right')
    if rates:
        secs = [s - t0 for s in rates[0]]
        ax_rate.plot(secs, rates[1], label='requests/s', color='#1f77b4', linewidth=1)
        ax_rate.plot(secs, rates[2], label='failed/s', color='#d62728', linewidth=1)
        ax_rate.plot(secs, rates[3], label='406/s', color='#9467bd', linewidth=1)
        ax_rate.legend(fontsize=6, loc='upper right')
    ax_rate.set_ylabel('per second', fontsize=7)
    ax_rate.set_xlabel('seconds', fontsize=7)
    for ax in (ax_lb, ax_rate):
        for start, end, node, step in steps:
            ax.axvspan(start - t0, end - t0, color=STEP_COLOURS.get(step, '#f0f0f0'), alpha=0.5,
                       linewidth=0, zorder=0)
        ax.tick_params(labelsize=6)
    for start, end, node, step in steps:
        if step in ('upgrade', 'switch'):
            ax_rate.text((start + end) / 2 - t0, 0, node or step, fontsize=6, ha='center',
                         va='bottom')
    ax_lb.set_title(title or os.path.basename(os.path.abspath(scenario_dir)), fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('dirs', nargs='+', help='scenario directories ($ZDU_BUILD_DIR/e2e/work/NAME)')
    ap.add_argument('-o', '--out', help='the PNG (one directory only); default DIR/timeline.png')
    ap.add_argument('--title')
    a = ap.parse_args()
    if a.out and len(a.dirs) > 1:
        ap.error('-o takes one directory')
    for d in a.dirs:
        print(draw(d, a.out or os.path.join(d, 'timeline.png'), a.title))
    return 0


if __name__ == '__main__':
    sys.exit(main())
