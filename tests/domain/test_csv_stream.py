"""`stream_csv` (the historical import reads files of millions of rows a line at a time) gives
`read_csv`'s rows and refuses a file with `read_csv`'s messages."""

from pathlib import Path

import pytest

from app.domain.csvfile import read_csv, stream_csv
from app.domain.errors import InputRejected

COLUMNS = ("a", "b")
FILES = {
    "plain": b"a,b\n1,2\n3,4\n",
    "byte-order mark": b"\xef\xbb\xbfa,b\n1,2\n",
    "CRLF and a quoted newline": b'a,b\r\n1,2\r\n3,"x\r\ny"\r\n',
    "lone CRs": b"a,b\r1,2\r3,4\r",
    "GBK text": "a,b\n1,中文\n".encode("gbk"),
    "a NUL": b"a,b\n1,2\n3,\x004\n",
    "UTF-16": "a,b\n1,2\n".encode("utf-16"),
    "empty": b"",
    "blank": b"  \n\n",
    "blank lines before the header": b"\n\na,b\n1,2\n",
    "a missing column": b"a,c\n1,2\n",
    "extra values": b"a,b\n1,2,3\n4,5\n",
    "a quote left open": b'a,b\n1,"2\n',
    "cut inside a character": b"a,b\n1,\xe4\xb8",
    "an overlong cell": b"a,b\n1," + b"x" * 4001 + b"\n",
}


def outcome(read: object) -> tuple[str, object]:
    try:
        return "rows", read()  # type: ignore[operator]
    except InputRejected as exc:
        return "rejected", exc.problems


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gbk", "utf-16"])
@pytest.mark.parametrize("name", list(FILES))
def test_streamed_rows_and_refusals_are_read_csvs(tmp_path: Path, name: str, encoding: str) -> None:
    path = tmp_path / "file.csv"
    path.write_bytes(FILES[name])
    whole = outcome(lambda: read_csv(path, encoding, COLUMNS))
    streamed = outcome(lambda: list(stream_csv(path, encoding, COLUMNS)))
    assert streamed == whole


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputRejected, match="file not found"):
        list(stream_csv(tmp_path / "nowhere.csv", "utf-8-sig", COLUMNS))
