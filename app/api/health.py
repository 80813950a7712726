"""GET /healthz — 200 once the database answers, 503 otherwise; with read replicas, each one's
state and lag (a lagging or silent replica is passed over for the primary: still 200)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(request: Request) -> JSONResponse:
    try:
        with request.app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return JSONResponse(
            {"status": "unavailable", "detail": "database does not answer"}, status_code=503
        )
    replicas = getattr(request.app.state, "read_replicas", None)
    if replicas is None:
        return JSONResponse({"status": "ok"})
    return JSONResponse({"status": "ok", "replicas": replicas.status()})
