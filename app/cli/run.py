"""`seed-demo` and `serve`."""

from __future__ import annotations

from typing import Annotated

import typer

from app.cli.common import (
    app,
    ensure_database,
    fail,
    out,
    progress_bar,
    transaction,
)
from app.config import get_settings


@app.command("seed-demo")
def seed_demo() -> None:
    """Load the demo city (Xinxiang urban districts): grid, roster, sources, one user per role."""
    from app.demo.seed import seed

    with transaction() as session, progress_bar() as bar:
        summary = seed(session, bar)
    out.print(summary.describe(), highlight=False)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            envvar="GRIDWATCH_WORKERS",
            help="server processes (they share sessions and limits)",
        ),
    ] = 1,
) -> None:
    """Serve the API and pages.

    Client addresses come from X-Forwarded-For only for the proxies in
    GRIDWATCH_TRUSTED_PROXIES. The signing secret is GRIDWATCH_SECRET_KEY, or the one kept in
    the data folder (generated on the first start). Log lines: GRIDWATCH_LOG_FORMAT (text or
    json); /metrics: GRIDWATCH_METRICS_TOKEN (docs/operations.md)."""
    import uvicorn

    from app.logs import uvicorn_config
    from app.secret import SecretFileError, signing_key
    from app.serving import server_options

    try:
        signing_key()  # generated now if need be, before any worker starts
    except SecretFileError as exc:
        fail(str(exc))
    url = ensure_database()
    out.print(
        f"serving http://{host}:{port} with {workers} worker(s); forwarded headers believed "
        f"from: {get_settings().trusted_proxies or 'nobody'}",
        highlight=False,
    )
    options = {
        **server_options(host, port),
        "log_config": uvicorn_config(get_settings().log_format),
        "access_log": False,  # gridwatch's own access line, with the request id (app/logs.py)
    }
    if workers == 1:
        from app.main import create_app

        uvicorn.run(create_app(url), **options)
    else:  # each worker process builds its own app (and engine) from the same settings
        _shared_metrics_folder()
        uvicorn.run("app.main:create_app", factory=True, workers=workers, **options)


def _shared_metrics_folder() -> None:
    """prometheus_client's multiprocess mode for the workers (app/api/metrics.py): an empty
    folder of this server's own in PROMETHEUS_MULTIPROC_DIR, which the workers inherit (an
    operator's own folder is emptied of stale files from an earlier run)."""
    import atexit
    import os
    import shutil
    import tempfile
    from pathlib import Path

    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for stale in Path(folder).glob("*.db"):
            stale.unlink()
    else:
        made = tempfile.mkdtemp(prefix="gridwatch-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
        atexit.register(shutil.rmtree, made, ignore_errors=True)
