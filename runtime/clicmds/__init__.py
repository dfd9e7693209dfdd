"""``rt`` sub-commands that talk to the admin API (``rt services``, ``rt state``, ...).

Every command takes ``--admin-url`` (env ``RT_ADMIN_URL``, default
``http://127.0.0.1:9070``), prints errors to stderr and exits non-zero on
failure: 1 when the admin API cannot be reached or refuses the request, 2 for
bad arguments.
"""

from runtime.clicmds import invocation_control as _invocation_control  # adds its commands
from runtime.clicmds.deployments import deployments_app
from runtime.clicmds.invocations import invocations_app
from runtime.clicmds.services import services_app
from runtime.clicmds.state import state_app
from runtime.clicmds.subscriptions import subscribe, subscriptions_app

del _invocation_control

__all__ = [
    "deployments_app",
    "invocations_app",
    "services_app",
    "state_app",
    "subscribe",
    "subscriptions_app",
]
