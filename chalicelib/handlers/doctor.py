"""The Doctor Lambda: the preflight checks (chalicelib/doctor.py), invoked by the API's
`GET /doctor`. It is its own function, in the steps' group (.chalice/config.json gives
every function not named there the steps' policy), so that the checks see the account
with the permissions the steps have, and the API's role stays without them."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.core.runtime import runtime

bp = Blueprint(__name__)


@bp.lambda_function(name="Doctor")
def doctor_checks(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from chalicelib import doctor

    return doctor.run(runtime())
