"""uwsgi --wsgi-file entry point for a real nova-api (osapi_compute) in tests.

nova's nova/api/openstack/compute/wsgi.py only provides init_application(), so
this file calls it and exposes `application`.  nova reads nova.conf and
api-paste.ini from $OS_NOVA_CONFIG_DIR (set by tests/nova/nova-node).

If ZDU_NOVA_MAX_VERSION is set (e.g. "2.90"), the maximum compute API
microversion is lowered before nova builds its application, so that the real
nova code stands for an older release: GET /v2.1/ and GET / advertise that
"version", "latest" resolves to it, and a request with a higher
"OpenStack-API-Version: compute X.Y" gets nova's own 406 (InvalidGlobalAPIVersion
in nova/api/openstack/wsgi.py, which compares with max_api_version()).
"""

import os
import re

from nova.api.openstack import api_version_request

_max = os.environ.get("ZDU_NOVA_MAX_VERSION", "").strip()
if _max:
    if not re.fullmatch(r"2\.\d+", _max):
        raise ValueError("ZDU_NOVA_MAX_VERSION must look like 2.NN, got %r" % _max)
    _stock = api_version_request.APIVersionRequest(api_version_request._MAX_API_VERSION)
    _wanted = api_version_request.APIVersionRequest(_max)
    _floor = api_version_request.APIVersionRequest(api_version_request._MIN_API_VERSION)
    if not (_floor <= _wanted <= _stock):
        raise ValueError("ZDU_NOVA_MAX_VERSION %s outside %s..%s" % (
            _max, api_version_request._MIN_API_VERSION, api_version_request._MAX_API_VERSION))
    # max_api_version() reads this module global at every request.
    api_version_request._MAX_API_VERSION = _max
    # The version documents copy the value into a dict when
    # nova.api.openstack.compute.versions is imported: patch that copy too, in
    # case the module was already imported (it is not, normally).
    from nova.api.openstack.compute import versions as _versions
    _versions.VERSIONS["v2.1"]["version"] = _max

from nova.api.openstack.compute import wsgi as _nova_wsgi  # noqa: E402

application = _nova_wsgi.init_application()
