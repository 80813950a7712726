"""Typed domain errors. The API maps them to 4xx in one place (app/api/errors.py); the CLI
prints their message and exits non-zero."""

from __future__ import annotations

from collections.abc import Sequence


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    status_code = 404


class Forbidden(DomainError):
    status_code = 403


class Conflict(DomainError):
    status_code = 409


class Unprocessable(DomainError):
    """Well-formed input that breaks a domain rule; the message names the field."""

    status_code = 422


class InputRejected(DomainError):
    """A file or request that cannot be taken; nothing of it was stored.

    `problems` name the row or feature and what is wrong with it."""

    status_code = 422
    MAX_LISTED = 20

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        shown = self.problems[: self.MAX_LISTED]
        more = len(self.problems) - len(shown)
        lines = [f"{source}: rejected, nothing imported ({len(self.problems)} problem(s))"]
        lines += [f"  - {p}" for p in shown]
        if more:
            lines.append(f"  … and {more} more")
        super().__init__("\n".join(lines))


class TooManyAttempts(DomainError):
    """A limit on attempts was reached; `retry_after` seconds until the next is weighed."""

    status_code = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)
