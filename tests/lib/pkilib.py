#!/usr/bin/python3
"""A throwaway PKI made with the openssl CLI, for the TLS tests (stdlib only).

    openssl(*args, cwd)              runs `openssl ARGS` in CWD; RuntimeError with its stderr
                                     if it fails.
    make_ca(d, name, cn) -> path     a self-signed EC P-256 CA, D/NAME.pem and D/NAME.key,
                                     valid 2 days.
    make_leaf(d, name, cn, ext, ca='ca') -> (cert path, key path)
                                     a certificate for CN signed by the CA D/CA.pem (+ .key),
                                     with basicConstraints=CA:FALSE and the extension lines
                                     EXT ('subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=...').
"""

import os
import subprocess

__all__ = ['openssl', 'make_ca', 'make_leaf']

_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']


def openssl(*args, cwd):
    r = subprocess.run(['openssl'] + list(args), cwd=cwd, capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=60)
    if r.returncode != 0:
        raise RuntimeError('openssl %s: exit %d: %s' % (' '.join(args), r.returncode, r.stderr))


def make_ca(d, name, cn):
    openssl('req', '-x509', *_KEY, '-keyout', name + '.key', '-out', name + '.pem',
            '-days', '2', '-subj', '/CN=' + cn,
            '-addext', 'basicConstraints=critical,CA:TRUE',
            '-addext', 'keyUsage=critical,keyCertSign,cRLSign', cwd=d)
    return os.path.join(d, name + '.pem')


def make_leaf(d, name, cn, ext, ca='ca'):
    with open(os.path.join(d, name + '.ext'), 'w') as f:
        f.write('basicConstraints=CA:FALSE\n' + ext)
    openssl('req', '-new', *_KEY, '-keyout', name + '.key', '-out', name + '.csr',
            '-subj', '/CN=' + cn, cwd=d)
    openssl('x509', '-req', '-in', name + '.csr', '-CA', ca + '.pem', '-CAkey', ca + '.key',
            '-CAcreateserial', '-days', '2', '-out', name + '.pem',
            '-extfile', name + '.ext', cwd=d)
    return os.path.join(d, name + '.pem'), os.path.join(d, name + '.key')
