"""Domain errors → 4xx, database outages → 503, in one place."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError

from app.domain.errors import DomainError, InputRejected, TooManyAttempts

log = logging.getLogger("gridwatch.errors")

# What the database refused, by SQLSTATE, in our words: the database's own message names
# internals (types, functions, sometimes the value) and is never sent to clients.
REFUSED_VALUES = {
    "22001": "a text is too long",
    "22003": "a number is out of range",
    "22007": "a date or time is malformed",
    "22008": "a date or time is out of range",
    "22021": "a text holds a character that cannot be stored (such as NUL)",
    "22P02": "a value has the wrong form",
    "22P05": "a text holds a character that cannot be stored",
    "22023": "a value is not acceptable",
}


def refused_value(exc: DataError) -> str:
    """Why the database refused a value, without the database's own words."""
    state = getattr(exc.orig, "sqlstate", None)
    log.info("a value was refused: SQLSTATE %s: %s", state, type(exc.orig).__name__)
    if state is None and "NUL" in str(exc.orig):  # refused by the driver, before the server
        state = "22021"
    return REFUSED_VALUES.get(state or "", "a value cannot be stored")


def clean_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Validation errors without the offending input (it may be NaN, huge, or binary) and
    with context values as text, so the error answer itself can always be encoded."""
    out = []
    for e in errors:
        item = {"type": e.get("type"), "loc": list(e.get("loc", ())), "msg": e.get("msg")}
        if e.get("ctx"):
            item["ctx"] = {k: str(v)[:200] for k, v in e["ctx"].items()}
        out.append(item)
    return out


def document_string_details(app: FastAPI) -> None:
    """422 answers carry either pydantic's list of problems or one sentence (a bad bbox, a
    value the database refused); say so in the OpenAPI document, which clients rely on."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        error = schema.get("components", {}).get("schemas", {}).get("HTTPValidationError")
        if error and "detail" in error.get("properties", {}):
            listed = error["properties"]["detail"]
            error["properties"]["detail"] = {
                "anyOf": [listed, {"type": "string"}],
                "title": "Detail",
            }
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    document_string_details(app)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": clean_errors(exc.errors())}, status_code=422)

    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        detail: object = exc.message
        if isinstance(exc, InputRejected):
            detail = {"source": exc.source, "problems": exc.problems}
        headers = None
        if isinstance(exc, TooManyAttempts):
            headers = {"Retry-After": str(exc.retry_after)}
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(DataError)
    async def value_refused(_: Request, exc: DataError) -> JSONResponse:
        # A value the database cannot store (a NUL character in text, a number out of range):
        # the request is wrong, not the server.
        return JSONResponse(
            {"detail": f"a value was refused: {refused_value(exc)}"}, status_code=422
        )

    @app.exception_handler(IntegrityError)
    async def conflict(_: Request, exc: IntegrityError) -> JSONResponse:
        return JSONResponse(
            {"detail": "this conflicts with data written at the same time; retry"},
            status_code=409,
        )

    @app.exception_handler(OperationalError)
    async def database_down(request: Request, exc: OperationalError) -> JSONResponse:
        # Also deadlocks, serialisation failures and statement timeouts: say which in the log,
        # so that a 503 under load can be traced (the SQL state, never the parameters).
        state = getattr(exc.orig, "sqlstate", None)
        log.warning(
            "503 for %s %s: database error %s: %s",
            request.method,
            request.url.path,
            state or "(no connection)",
            str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__,
        )
        return JSONResponse(
            {"detail": "the database is unavailable; retry shortly"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(DBAPIError)
    async def database_error(_: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:
            return JSONResponse(
                {"detail": "the database connection was lost; retry shortly"},
                status_code=503,
                headers={"Retry-After": "5"},
            )
        raise exc
