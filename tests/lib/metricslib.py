"""Reading the agent's Prometheus text: a parser small enough to trust, the HTTP endpoint,
and promtool's own check of the format (Debian's prometheus package)."""
import http.client
import re
import shutil
import subprocess

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def parse(text):
    """{(name, ((label, value), ...)): float} for every sample line; raises on a bad line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith('#'):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise ValueError('not a sample line: %r' % line)
        labels = tuple(sorted(_LABEL.findall(m.group(3) or '')))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def value(samples, name, **labels):
    """The one sample NAME{LABELS}; None when absent."""
    return samples.get((name, tuple(sorted(labels.items()))))


def get(host, port, path='/metrics', method='GET', timeout=5.0):
    """(status, headers dict, body text) of one request."""
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request(method, path)
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode()
    finally:
        c.close()


def promtool():
    return shutil.which('promtool')


def promtool_check(text):
    """promtool check metrics on TEXT: (ok, its output). Lint notes are not failures."""
    r = subprocess.run([promtool(), 'check', 'metrics'], input=text, capture_output=True,
                       text=True, timeout=30)
    return r.returncode == 0, (r.stdout + r.stderr).strip()
