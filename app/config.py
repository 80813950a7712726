"""Settings, one pydantic-settings class per concern, all read from GRIDWATCH_* variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SECRET = "gridwatch-development-secret-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDWATCH_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    # A plain postgresql:// URL; unset means the embedded PostGIS cluster (app/localdb.py).
    database_url: str | None = None
    data_dir: Path = PROJECT_ROOT / "data"
    photo_dir: Path | None = None
    secret_key: str = DEFAULT_SECRET
    token_minutes: int = Field(default=12 * 60, ge=1)
    timezone: str = "Asia/Shanghai"

    # Default patrol interval per risk class (SPEC §2), in hours.
    patrol_hours_high: int = Field(default=24, ge=1)
    patrol_hours_medium: int = Field(default=72, ge=1)
    patrol_hours_low: int = Field(default=168, ge=1)
    # Partition defects smaller than this are floating-point noise, not blind spots.
    defect_min_area_m2: float = Field(default=1.0, ge=0)

    # Report flags (SPEC §4).
    max_accuracy_m: float = Field(default=100.0, gt=0)
    future_tolerance_minutes: float = Field(default=5.0, ge=0)
    late_sync_days: float = Field(default=7.0, gt=0)
    max_speed_kmh: float = Field(default=120.0, gt=0)
    exif_max_distance_m: float = Field(default=500.0, gt=0)
    # Photos are kept byte-for-byte as taken (SPEC §6), so the cap is what a phone's camera
    # makes at full resolution: 20 MB, and 65 megapixels — 12, 48, 50 and 64 MP sensors
    # (64 MP is 9248 x 6936) pass, 108/200 MP modes and pixel floods do not. Decoding a photo
    # to check it takes about 3 bytes per pixel, so the pixel cap also bounds that memory
    # (~195 MB at 65 MP, where a 12000 x 12000 flood would need 432 MB).
    photo_max_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    photo_max_megapixels: float = Field(default=65.0, gt=0)
    batch_max_items: int = Field(default=500, gt=0)
    # Request bodies, refused with 413 while they are read (app/api/limits.py): most routes,
    # and the offline batch and GPS tracks (500 reports or 20,000 track points).
    body_max_bytes: int = Field(default=1024 * 1024, gt=0)
    bulk_body_max_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    # Signing in: lock an account after this many wrong passwords in a row, for this long;
    # and at most this many attempts per minute from one client address.
    login_max_failures: int = Field(default=5, ge=1)
    login_lock_minutes: float = Field(default=15.0, gt=0)
    login_attempts_per_minute: int = Field(default=20, ge=1)
    # Hotspots (SPEC §4).
    require_photo_evidence: bool = False
    missed_radius_m: float = Field(default=200.0, gt=0)
    missed_days: float = Field(default=7.0, gt=0)
    # A case opened from a report lies at most this far from the report's point (geodesic).
    hotspot_report_radius_m: float = Field(default=200.0, gt=0)
    # Open311 GeoReport v2: comma-separated API keys of the complaint channels allowed to POST.
    open311_keys: str = ""
    # The map's basemap: "none", "osm", "tianditu" (needs tianditu_key) or a tile URL template
    # such as an intranet server's "https://tiles.example.gov.cn/{z}/{x}/{y}.png".
    basemap: str = "none"
    # Mark session cookies Secure even when the app sees plain HTTP (behind a TLS proxy).
    secure_cookies: bool = False
    basemap_attribution: str = ""
    tianditu_key: str = ""

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.env != "development" and self.secret_key == DEFAULT_SECRET:
            raise ValueError(
                "GRIDWATCH_SECRET_KEY is the built-in development secret; "
                f"set a long random value before running with GRIDWATCH_ENV={self.env}"
            )
        if self.env != "development" and len(self.secret_key) < 32:
            raise ValueError("GRIDWATCH_SECRET_KEY must have at least 32 characters")
        return self

    def patrol_interval_for(self, risk: str) -> int:
        return {
            "high": self.patrol_hours_high,
            "medium": self.patrol_hours_medium,
            "low": self.patrol_hours_low,
        }[risk]

    @property
    def open311_key_list(self) -> list[str]:
        return [k.strip() for k in self.open311_keys.split(",") if k.strip()]

    @property
    def photo_store(self) -> Path:
        return self.photo_dir or self.data_dir / "photos"


@lru_cache
def get_settings() -> Settings:
    return Settings()
