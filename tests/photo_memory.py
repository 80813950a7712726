"""`python -m tests.photo_memory png|jpeg|check PATH`: write a 64-megapixel photo to PATH, or
check the photo at PATH as an upload is checked (app.domain.reports.photos.inspect) in a
process of its own, printing as JSON how much that raised the process's peak resident memory.

A process of its own, because the peak (ru_maxrss) only ever rises and a long test run's heap
already holds freed memory that a decode would reuse unseen."""

from __future__ import annotations

import io
import json
import resource
import struct
import sys
import zlib
from pathlib import Path

from PIL import Image

WIDTH, HEIGHT = 9248, 6936  # a 64 MP phone sensor, just under the 65 MP cap
RED = (200, 0, 0)


def transparent_png(path: Path) -> None:
    """RGBA, transparent but for an opaque red band on the left third: ~330 KB on disk, 64 MP
    decoded. Written row by row, so that making it takes no memory to speak of."""
    band = WIDTH // 3
    row = b"\0" + bytes([*RED, 255]) * band + b"\0\0\0\0" * (WIDTH - band)  # filter 0, pixels
    packer = zlib.compressobj(6)
    idat = b"".join(packer.compress(row) for _ in range(HEIGHT)) + packer.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", WIDTH, HEIGHT, 8, 6, 0, 0, 0)  # 8 bits, RGBA
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def opaque_jpeg(path: Path) -> None:
    image = Image.new("RGB", (WIDTH, HEIGHT), (90, 140, 200))
    image.paste(RED, (0, 0, WIDTH // 3, HEIGHT))
    image.save(path, "JPEG", quality=85)


def peak_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)  # bytes there, KB here


def check(path: Path) -> dict[str, object]:
    from app.domain.reports.photos import inspect

    data = path.read_bytes()
    small = io.BytesIO()
    Image.new("RGBA", (8, 8)).save(small, "PNG")
    inspect(small.getvalue(), 65)  # imports and first-use set-up out of the way
    before = peak_mb()
    checked = inspect(data, 65)
    growth = peak_mb() - before
    with Image.open(io.BytesIO(checked.display)) as shown:
        return {
            "growth_mb": round(growth),
            "size": [checked.width, checked.height],
            "display": list(shown.size),
            "band": shown.getpixel((shown.width // 6, shown.height // 2)),
            "rest": shown.getpixel((shown.width * 5 // 6, shown.height // 2)),
        }


def main() -> None:
    command, path = sys.argv[1], Path(sys.argv[2])
    if command == "png":
        transparent_png(path)
    elif command == "jpeg":
        opaque_jpeg(path)
    else:
        print(json.dumps(check(path)))


if __name__ == "__main__":
    main()
