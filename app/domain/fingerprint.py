"""The fingerprint that tells a re-send from a different body under the same id: reports,
tracks and hotspots are idempotent on a client-chosen id, and compare bodies by this."""

from __future__ import annotations

import hashlib
import json
from typing import Any

_FINGERPRINT = json.JSONEncoder(sort_keys=True, default=str)


def fingerprint(parts: dict[str, Any]) -> str:
    return hashlib.sha256(_FINGERPRINT.encode(parts).encode()).hexdigest()
