"""Checking a photo holds at most one decoded full-size copy of it, and only a few photos are
decoded at once: one signed-in user's parallel uploads cannot exhaust a worker's memory."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from app.config import PROJECT_ROOT, get_settings
from app.domain.reports.photos import decode_slots, inspect
from tests.factories import jpeg

# A 64 MP photo decoded at full size is 9248 x 6936 x 4 bytes (Pillow holds RGB and RGBA alike
# at 4 bytes per pixel) = 257 MB: a PNG must be decoded so, once; the shrinking, the display
# copy and the allocator's slack take tens of MB more. A second full-size copy (the upright
# turn, the RGBA conversion, the white background: ~980 MB in all before) breaks the budget.
# A JPEG is decoded at a quarter of its size (2312 x 1734, 16 MB): no full-size copy at all.
BUDGET_MB = {"png": 400, "jpeg": 100}


def photo_memory(*args: str | Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tests.photo_memory", *map(str, args)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("kind", ["png", "jpeg"])
def test_checking_a_64_megapixel_photo_holds_no_second_full_size_copy(
    tmp_path: Path, kind: str
) -> None:
    path = tmp_path / f"photo.{kind}"
    photo_memory(kind, path)  # a transparent PNG of ~330 KB, a JPEG of ~1 MB
    checked = json.loads(photo_memory("check", path))
    assert checked["size"] == [9248, 6936] and checked["display"] == [1600, 1200]
    red, green, blue = checked["band"]  # the opaque red band on the left
    assert red > 180 and green < 30 and blue < 30
    if kind == "png":
        assert min(checked["rest"]) > 250  # transparency on white
    assert checked["growth_mb"] < BUDGET_MB[kind], checked


def test_photos_beyond_the_decode_slots_wait_for_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "photo_decode_concurrency", 1)
    checked = threading.Event()

    def check() -> None:
        inspect(jpeg(size=(400, 300)), 65)
        checked.set()

    with decode_slots():  # another upload is decoding its photo in the only slot
        waiting = threading.Thread(target=check)
        waiting.start()
        assert not checked.wait(0.5)
    assert checked.wait(30)
    waiting.join()
