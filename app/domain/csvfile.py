"""Reading the CSV files the importers take: header checked, rows with their line numbers,
encoding errors named with a hint."""

from __future__ import annotations

import csv
from pathlib import Path

from app.domain.errors import InputRejected


def read_csv(
    path: Path, encoding: str, columns: tuple[str, ...]
) -> list[tuple[int, dict[str, str]]]:
    """Rows as (line number, cells), header checked. Shared by the CSV importers."""
    source = str(path)
    try:
        with path.open(newline="", encoding=encoding) as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in (reader.fieldnames or [])]
            missing = [c for c in columns if c not in header]
            if missing:
                raise InputRejected(
                    source,
                    [
                        f"line 1: missing column(s) {', '.join(missing)}; expected "
                        f"{','.join(columns)}"
                    ],
                )
            reader.fieldnames = header
            return [
                (reader.line_num, {k: (v or "").strip() for k, v in row.items() if k})
                for row in reader
            ]
    except FileNotFoundError:
        raise InputRejected(source, ["file not found"]) from None
    except UnicodeDecodeError as exc:
        raise InputRejected(
            source, [f"not {encoding} text ({exc.reason} at byte {exc.start}); try --encoding GBK"]
        ) from None
    except csv.Error as exc:
        raise InputRejected(source, [f"malformed CSV: {exc}"]) from None
