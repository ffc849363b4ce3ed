"""How the HTTP routes answer errors: one shape, `{"error": message, "code": name}`
(docs/openapi.json). A named error answers with its STATUS_CODE; an AWS failure with 502
and its error code, never the details (they go to the log)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError
from chalice import Response
from chalice.app import Request

from chalicelib.core.errors import DaskyardError
from chalicelib.core.observability import logger

CHALICE_ERROR = {"Code", "Message"}  # the body of chalice.app.error_response


def answer(exc: DaskyardError) -> Response:
    """A named error's answer: its STATUS_CODE and {"error": message, "code": name}."""
    return Response(body={"error": str(exc), "code": type(exc).__name__},
                    status_code=exc.STATUS_CODE)


def aws_failure(exc: ClientError) -> Response:
    logger.exception("AWS call failed")
    code = exc.response["Error"]["Code"]
    return Response(body={"error": f"AWS error {code}", "code": "AwsError"}, status_code=502)


def answering_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """`view`, answering the named errors and AWS failures it raises. Chalice answers any
    exception from a view but its own (ChaliceViewError, ChaliceUnhandledError) with a
    bare 500 before a middleware sees it, and the named errors are not Chalice's: the
    core knows nothing of Chalice."""

    @functools.wraps(view)
    def answering(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except DaskyardError as exc:
            return answer(exc)
        except ClientError as exc:
            return aws_failure(exc)

    return answering


def one_shape(request: Request, get_response: Callable[[Request], Response]) -> Response:
    """HTTP middleware: Chalice's own refusals (a Content-Type the route does not take:
    415) reshaped to the one error shape; an AWS failure outside a view, 502."""
    try:
        response = get_response(request)
    except ClientError as exc:
        return aws_failure(exc)
    shown = response.body
    if response.status_code >= 400 and isinstance(shown, dict) and set(shown) == CHALICE_ERROR:
        response.body = {"error": shown["Message"], "code": shown["Code"]}
    return response
