"""`verify-export`: whether a file someone hands in is exactly what gridwatch exported."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import app, fail, out, transaction

NOT_ISSUED = 3  # exit status of a file gridwatch did not issue (1: bad input, as elsewhere)


@app.command("verify-export")
def verify_export(
    file: Annotated[Path, typer.Argument(help="an exported file (XLSX, CSV, JSON, GeoJSON, ZIP)")],
) -> None:
    """Whether this exact file was issued, when and by whom: its SHA-256 looked up among the
    export entries of the audit log. Exits 0 when issued, 3 when not."""
    try:
        stream = file.open("rb")
    except OSError as exc:
        fail(f"{file}: cannot read the file ({exc.strerror or exc})")
    from app.domain.accountability.issued import check_file

    with stream, transaction() as session:
        result = check_file(session, stream)
    out.print(f"{file}: {result.summary()}", highlight=False)
    if not result.issued:
        raise typer.Exit(NOT_ISSUED)
