"""Daskyard's Chalice app: the blueprints (steps, events, schedules, HTTP) and the
middleware that every invocation goes through. Nothing else lives here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError
from chalice import Chalice, ConvertToMiddleware, Response
from chalice.app import Request

from chalicelib.core.errors import DaskyardError
from chalicelib.core.observability import instrument, logger
from chalicelib.handlers import doctor, events, http, schedules, steps

app = Chalice(app_name="daskyard")
app.register_blueprint(steps.bp)
app.register_blueprint(events.bp)
app.register_blueprint(schedules.bp)
app.register_blueprint(http.bp)
app.register_blueprint(doctor.bp)
app.register_middleware(ConvertToMiddleware(instrument), "all")


CHALICE_ERROR = {"Code", "Message"}  # the body of chalice.app.error_response


@app.middleware("http")
def named_errors(request: Request, get_response: Callable[[Request], Response]) -> Response:
    """A named error answers with its STATUS_CODE and {"error": message, "code": name};
    an AWS failure with 502 and its error code, never the details. Chalice's own refusals
    (a Content-Type the route does not take: 415) get the same shape, so that every error
    the app answers is one shape (docs/openapi.json)."""
    try:
        response = get_response(request)
    except DaskyardError as exc:
        body: dict[str, Any] = {"error": str(exc), "code": type(exc).__name__}
        return Response(body=body, status_code=exc.STATUS_CODE)
    except ClientError as exc:
        logger.exception("AWS call failed")
        code = exc.response["Error"]["Code"]
        return Response(body={"error": f"AWS error {code}", "code": "AwsError"}, status_code=502)
    shown = response.body
    if response.status_code >= 400 and isinstance(shown, dict) and set(shown) == CHALICE_ERROR:
        response.body = {"error": shown["Message"], "code": shown["Code"]}
    return response
