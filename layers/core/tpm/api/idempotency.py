"""`Idempotency-Key` (shared/API.md) for POSTs that create or charge, in one place.

A route opts in with one argument:

    @app.post("/v1/things", ..., middlewares=[idempotent])

With the header, the first request runs and its successful answer (status, headers, body)
is kept for 24 hours under (practice, user, key); a retry with the same key and the same
request gets that answer again (with `Idempotent-Replayed: true`) and changes nothing; the
same key with a different request (body, path or query) is 422 `idempotency_key_reused`;
a retry while the first is still running is 409 `idempotency_in_progress`. A request that
fails (any error answer) keeps nothing, so it can be retried with the same key. Without
the header the route runs as usual. It is Powertools' idempotency utility underneath
(`idempotent_function`), with the persistence layer from `tpm.adapters.idempotency`.

Only signed-in callers: the key is scoped to the caller's practice and user, so one
person's key can never replay another's answer. Public routes do not opt in.
"""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyInconsistentStateError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)

from tpm import errors
from tpm.adapters.idempotency import open_idempotency
from tpm.api.context import service_context

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces
EXPIRES_AFTER_SECONDS = 24 * 60 * 60
_REPLAYED = "tpm_idempotency_replayed"
KEY_PREFIX = "tpm.api"  # record keys do not depend on which function serves the route


class IdempotencyKeyReused(errors.ValidationFailed):
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was used for a different request."


class IdempotencyInProgress(errors.Conflict):
    code = "idempotency_in_progress"
    message = "A request with this Idempotency-Key is still being processed; retry shortly."


class _NotKept(Exception):
    """A non-2xx answer: returned to the caller, never kept for replay."""

    def __init__(self, response: Response[Any]) -> None:
        super().__init__("not kept")
        self.response = response


def idempotent(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """Powertools route middleware; see the module docstring."""
    event = app.current_event
    key = _header(event.headers or {})
    if key is None:
        return next_middleware(app)
    if not KEY_PATTERN.fullmatch(key):
        raise errors.ValidationFailed(
            fields=[{"path": f"header.{HEADER}", "type": "idempotency_key_format"}]
        )
    ctx = service_context(app, enrolment_route=True)  # cached for the route itself
    principal = ctx.principal
    request = {
        "method": event.http_method,
        "path": event.path,
        "query": dict(sorted((event.query_string_parameters or {}).items())),
        "body": event.json_body if event.body else None,
    }
    data = {"key": f"{principal.practice_id}/{principal.user_id}/{key}", "request": request}
    app.context[_REPLAYED] = True

    def run(data: dict[str, Any]) -> dict[str, Any]:
        app.context[_REPLAYED] = False
        response = next_middleware(app)
        if not 200 <= response.status_code < 300:
            raise _NotKept(response)
        return {
            "status": response.status_code,
            "headers": {k: v for k, v in response.headers.items() if isinstance(v, str)},
            "content_type": response.content_type,
            "body": response.body if isinstance(response.body, str) else None,
        }

    config = _config(app)
    layer = open_idempotency(ctx.runtime.store, principal.practice_id, ctx.runtime.clock)
    try:
        kept = idempotent_function(
            run,
            data_keyword_argument="data",
            persistence_store=layer,
            config=config,
            key_prefix=KEY_PREFIX,
        )(data=data)
    except _NotKept as not_kept:
        return not_kept.response
    except IdempotencyValidationError:
        raise IdempotencyKeyReused(
            fields=[{"path": f"header.{HEADER}", "type": "idempotency_key_reused"}]
        ) from None
    except (IdempotencyAlreadyInProgressError, IdempotencyInconsistentStateError):
        raise IdempotencyInProgress() from None
    except IdempotencyPersistenceLayerError as exc:
        cause = exc.__cause__
        if isinstance(cause, errors.TpmError):
            raise cause from None
        raise errors.DependencyUnavailable(dependency="idempotency") from exc
    headers = dict(kept["headers"])
    if app.context.get(_REPLAYED):
        headers[REPLAYED_HEADER] = "true"
    return Response(
        status_code=int(kept["status"]),
        content_type=kept["content_type"],
        body=kept["body"],
        headers=headers,
    )


def _header(headers: dict[str, str]) -> str | None:
    for name, value in headers.items():
        if name.lower() == HEADER.lower():
            return value
    return None


def _config(app: APIGatewayRestResolver) -> IdempotencyConfig:
    config = IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="request",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=EXPIRES_AFTER_SECONDS,
        hash_function="sha256",
    )
    if app.lambda_context is not None:
        # An INPROGRESS record whose Lambda timed out unblocks when that time is up.
        config.register_lambda_context(app.lambda_context)
    return config
