"""`python -m bench.pageweight`: the phone app's first load (HTML + JS + CSS, gzip) as the
server sends it. Issue 6 keeps it under 200 KB; this records it."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from app.cli import ensure_database
from app.main import create_app
from bench.run import RESULTS

ASSETS = ("/m/", "/static/app/phone.js", "/static/app/phone.css", "/m/sw.js")
LIMIT = 200 * 1024


def main() -> None:
    url = ensure_database()
    sizes = {}
    with TestClient(create_app(url)) as client:
        client.post("/login", data={"username": "inspector", "password": "demo-inspector-2026"})
        for path in ASSETS:
            r = client.get(path)
            assert r.status_code == 200, (path, r.status_code)
            sizes[path] = {"bytes": len(r.content), "gzip": len(gzip.compress(r.content, 6))}
    total = sum(s["gzip"] for s in sizes.values())
    now = datetime.now(UTC)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{now:%Y-%m-%d}-pageweight.json"
    out.write_text(
        json.dumps(
            {"date": now.isoformat(), "assets": sizes, "gzip_total": total, "limit": LIMIT},
            indent=2,
        )
        + "\n"
    )
    for path, s in sizes.items():
        print(f"{path:<28} {s['bytes']:>8,} B  gzip {s['gzip']:>7,} B")
    print(f"first load, gzip: {total:,} B of {LIMIT:,} allowed; written to {out}")


if __name__ == "__main__":
    main()
