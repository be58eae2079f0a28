#!/usr/bin/python3
"""conf/prometheus: the alert rules pass `promtool check rules` and their unit tests
(`promtool test rules`: each alert fires when it should and not before), the Grafana
dashboard is valid JSON whose queries promtool can parse, and every zdu_agent_* /
zdu_coordinator_* name the rules and the dashboard use is one the programs export (a
renamed metric would otherwise leave an alert that can never fire)."""
import json
import os
import re
import subprocess

from agentlib import check, main
from metricslib import promtool

SRC = os.environ.get('ZDU_SOURCE_DIR') or os.path.join(os.path.dirname(__file__), '..', '..')
CONF = os.path.join(SRC, 'conf', 'prometheus')


def run(*args):
    r = subprocess.run([promtool()] + list(args), cwd=CONF, capture_output=True, text=True,
                       timeout=60)
    print('$ promtool %s -> %d\n%s' % (' '.join(args), r.returncode, (r.stdout + r.stderr).strip()))
    return r.returncode == 0


def exported_names():
    text = ''
    for d in ('agent/daemon', 'agent/coordinator'):
        for n in os.listdir(os.path.join(SRC, d)):
            if n.endswith('.c'):
                with open(os.path.join(SRC, d, n)) as f:
                    text += f.read()
    return set(re.findall(r'"(zdu_(?:agent|coordinator)_[a-z_]+)"', text))


def used_names(text):
    names = set(re.findall(r'\b(zdu_(?:agent|coordinator)_[a-z_]+)', text))
    return {re.sub(r'_(bucket|sum|count)$', '', n) if n.startswith('zdu_agent_probe_duration')
            else n for n in names}


def test():
    check(promtool() is not None, 'promtool installed (tests/install-deps: prometheus)')
    check(run('check', 'rules', 'zdu-agent.rules.yml'), 'promtool check rules')
    check(run('test', 'rules', 'zdu-agent.rules.test.yml'), 'promtool test rules: every alert case')
    with open(os.path.join(CONF, 'zdu-agent.dashboard.json')) as f:
        dash = json.load(f)
    exprs = [t['expr'] for p in dash['panels'] for t in p.get('targets', [])]
    check(len(exprs) >= 10, 'the dashboard has its panels (%d queries)' % len(exprs))
    # promtool parses PromQL only inside rules: the dashboard's queries as recording rules.
    tmp = os.path.join(os.environ.get('TMPDIR', '/tmp'), 'zdu-dashboard-rules-%d.yml' % os.getpid())
    with open(tmp, 'w') as f:
        f.write('groups:\n  - name: dashboard\n    rules:\n')
        for i, e in enumerate(exprs):
            e = e.replace('$__rate_interval', '5m').replace('$instance', '.*').replace('$service', '.*')
            f.write('      - record: dashboard_q%d\n        expr: %s\n' % (i, json.dumps(e)))
    try:
        check(run('check', 'rules', tmp), 'every dashboard query parses as PromQL')
    finally:
        os.unlink(tmp)
    with open(os.path.join(CONF, 'zdu-agent.rules.yml')) as f:
        rules = f.read()
    have = exported_names()
    missing = sorted(used_names(rules + json.dumps(dash)) - have)
    check(not missing, 'every metric the rules and the dashboard use is exported', missing)


if __name__ == '__main__':
    main(test)
