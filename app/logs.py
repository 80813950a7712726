"""The server's log lines (`gridwatch serve`): GRIDWATCH_LOG_FORMAT `text` (one readable line,
the default, for a terminal) or `json` (one JSON object per line, for a log collector; the
Docker image's default).

Every line written while a request is answered carries its request id (a context variable
set by app/api/observe.py); the access line of each request (logger `gridwatch.access`) also
carries method, route template, status and duration_ms. uvicorn's own access log is off:
that line replaces it."""

from __future__ import annotations

import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

REQUEST_ID: ContextVar[str | None] = ContextVar("gridwatch_request_id", default=None)
# The request's fields an access line carries (app/api/observe.py passes them as `extra`).
REQUEST_FIELDS = ("method", "route", "status", "duration_ms")


class RequestIdFilter(logging.Filter):
    """Stamps each record with the request id of the request being answered, if any."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for field in REQUEST_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                line[field] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        return f"{line} [{request_id}]" if request_id else line


def uvicorn_config(log_format: str) -> dict[str, Any]:
    """A logging dictConfig for uvicorn's `log_config`: our formatter for uvicorn's loggers,
    gridwatch's and the rest (root), on stderr."""
    formatter = {"()": JsonFormatter} if log_format == "json" else {"()": TextFormatter}
    handler = {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "formatter": "default",
        "filters": ["request_id"],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"default": formatter},
        "handlers": {"default": handler},
        "root": {"handlers": ["default"], "level": "INFO"},
        "loggers": {
            "uvicorn": {"level": "INFO"},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"level": "WARNING"},
        },
    }
