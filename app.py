"""Daskyard's Chalice app: the blueprints (steps, events, schedules, HTTP) and the
middleware that every invocation goes through. Nothing else lives here."""

from __future__ import annotations

import functools
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


def answer(exc: DaskyardError) -> Response:
    """A named error's answer: its STATUS_CODE and {"error": message, "code": name}."""
    return Response(body={"error": str(exc), "code": type(exc).__name__},
                    status_code=exc.STATUS_CODE)


def answering_named_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """`view`, answering the named errors it raises. Chalice answers any exception from a
    view but its own (ChaliceViewError, ChaliceUnhandledError) with a bare 500 before a
    middleware sees it, and the named errors are not Chalice's: the core knows nothing
    of Chalice."""

    @functools.wraps(view)
    def answering(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except DaskyardError as exc:
            return answer(exc)

    return answering


# Every route (all registered above) answers the named errors its view raises.
for _methods in app.routes.values():
    for _route in _methods.values():
        _route.view_function = answering_named_errors(_route.view_function)


@app.middleware("http")
def named_errors(request: Request, get_response: Callable[[Request], Response]) -> Response:
    """Every error the app answers is one shape (docs/openapi.json): a named error's
    (answering_named_errors) {"error": message, "code": name}; an AWS failure that gets
    here 502 and its error code, never the details; Chalice's own refusals (a
    Content-Type the route does not take: 415; its 500 for any other exception from a
    view, an AWS failure's too) reshaped to it."""
    try:
        response = get_response(request)
    except ClientError as exc:
        logger.exception("AWS call failed")
        code = exc.response["Error"]["Code"]
        return Response(body={"error": f"AWS error {code}", "code": "AwsError"}, status_code=502)
    shown = response.body
    if response.status_code >= 400 and isinstance(shown, dict) and set(shown) == CHALICE_ERROR:
        response.body = {"error": shown["Message"], "code": shown["Code"]}
    return response
