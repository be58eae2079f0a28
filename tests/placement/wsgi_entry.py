"""uwsgi entry for a real placement-api (Debian 12 python3-placement, Zed) on loopback.

placement.wsgi.init_application() builds the real application from placement.conf (found
through OS_PLACEMENT_CONFIG_DIR). Zed's placement has no /healthcheck in its pipeline; with
ZDU_PLACEMENT_HC_DISABLE_FILE set, the application is wrapped in oslo.middleware's own
Healthcheck (backends disable_by_file, path /healthcheck), as an operator's pipeline puts it in
front of an API: GET /healthcheck answers 200 "OK", or 503 "DISABLED BY FILE" while that file
exists. Everything else reaches placement unchanged.
"""
import os

from placement import wsgi as _wsgi

application = _wsgi.init_application()

_hc_file = os.environ.get('ZDU_PLACEMENT_HC_DISABLE_FILE')
if _hc_file:
    from oslo_middleware import healthcheck as _hc
    application = _hc.Healthcheck(application, {
        'path': '/healthcheck',
        'backends': 'disable_by_file',
        'disable_by_file_path': _hc_file,
        'detailed': os.environ.get('ZDU_PLACEMENT_HC_DETAILED') == '1',
    })
