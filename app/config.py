"""Settings, one pydantic-settings class per concern, all read from GRIDWATCH_* variables."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from ipaddress import ip_network
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIN_SECRET_LENGTH = 32


class WebhookTarget(BaseModel):
    """One place the notifier posts to (GRIDWATCH_NOTIFY_WEBHOOKS, a JSON list of these).
    `format`: `json` (gridwatch's own body, HMAC-signed with `secret`, or by default with a
    key derived from the signing secret: `gridwatch notify --secrets` prints it), `wecom`
    (a WeCom group robot: its URL carries the key) or `dingtalk` (a DingTalk group robot:
    `secret` is the robot's 加签 secret, if it has one). `name` names the target's queue;
    unset, it is the format and a hash of the URL (so a URL's key never lands in the
    database). Renaming a target starts a new queue."""

    url: str
    format: Literal["json", "wecom", "dingtalk"] = "json"
    secret: SecretStr | None = None
    name: str | None = Field(default=None, min_length=1, max_length=64)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("a webhook url must start with http:// or https://")
        return value

    @property
    def key(self) -> str:
        if self.name:
            return self.name
        return f"{self.format}-{hashlib.sha256(self.url.encode()).hexdigest()[:10]}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GRIDWATCH_", env_file=".env", extra="ignore", validate_by_name=True
    )

    env: Literal["development", "test", "production"] = "development"
    # A plain postgresql:// URL; unset means the embedded PostGIS cluster (app/localdb.py).
    database_url: str | None = None
    # Read replicas (streaming standbys): comma-separated postgresql:// URLs for the read-only
    # routes (maps, tiles, gaps, lapses, due, stats); writes stay on database_url. A replica
    # further behind than read_max_lag_seconds, or not answering, is passed over for the
    # primary (app/db.py: ReadReplicas).
    read_database_url: str = ""
    read_max_lag_seconds: float = Field(default=30.0, ge=0)
    # The URLs go through a transaction-mode pooler (PgBouncer): no server-side prepared
    # statements (psycopg prepares a statement after 5 runs, on one server connection).
    database_pooler: bool = False
    # The primary itself when database_url goes through a pooler: pg_dump and pg_restore
    # (`gridwatch backup`/`restore`) set session state a transaction pooler would leak.
    direct_database_url: str | None = None
    data_dir: Path = PROJECT_ROOT / "data"
    photo_dir: Path | None = None
    # Where photos are kept (app/domain/reports/photostore.py): GRIDWATCH_PHOTO_STORE=dir, files
    # under photo_dir (default <data_dir>/photos), or s3, objects in an S3-compatible bucket
    # (MinIO, Ceph RGW): GRIDWATCH_S3_ENDPOINT (e.g. http://minio:9000; empty: AWS itself),
    # _BUCKET, _ACCESS_KEY, _SECRET_KEY, _REGION and _PREFIX (object names start with it).
    photo_backend: Literal["dir", "s3"] = Field(
        default="dir",
        validation_alias="GRIDWATCH_PHOTO_STORE",  # the variable's name; in code, photo_backend
    )
    s3_endpoint: str = ""
    s3_bucket: str = ""
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    s3_region: str = "us-east-1"
    s3_prefix: str = ""
    # Signs tokens and CSRF proofs. Unset: a random one is generated on first start and kept
    # in <data_dir>/secret_key (app/secret.py); there is no built-in value.
    secret_key: SecretStr | None = None
    token_minutes: int = Field(default=12 * 60, ge=1)
    timezone: str = "Asia/Shanghai"

    # Default patrol interval per risk class (SPEC §2), in hours.
    patrol_hours_high: int = Field(default=24, ge=1)
    patrol_hours_medium: int = Field(default=72, ge=1)
    patrol_hours_low: int = Field(default=168, ge=1)
    # A cell falling due within this many hours is "at risk" (the /desk panel, the map layer,
    # the leaders' digest): it lapses unless someone goes.
    at_risk_hours: float = Field(default=6.0, gt=0, le=744)
    # Partition defects smaller than this are floating-point noise, not blind spots.
    defect_min_area_m2: float = Field(default=1.0, ge=0)
    # A leaf cell far larger than a unit cell (a district imported before its grid) is
    # warned about: over large_leaf_km2, or over large_leaf_factor times the median leaf of
    # its subtree when that has at least large_leaf_min_leaves leaves.
    large_leaf_km2: float = Field(default=25.0, gt=0)
    large_leaf_factor: float = Field(default=50.0, gt=1)
    large_leaf_min_leaves: int = Field(default=20, ge=1)

    # Report flags (SPEC §4).
    max_accuracy_m: float = Field(default=100.0, gt=0)
    future_tolerance_minutes: float = Field(default=5.0, ge=0)
    late_sync_days: float = Field(default=7.0, gt=0)
    max_speed_kmh: float = Field(default=120.0, gt=0)
    exif_max_distance_m: float = Field(default=500.0, gt=0)
    # Photos are kept byte-for-byte as taken (SPEC §6), so the cap is what a phone's camera
    # makes at full resolution: 20 MB, and 65 megapixels — 12, 48, 50 and 64 MP sensors
    # (64 MP is 9248 x 6936) pass, 108/200 MP modes and pixel floods do not. Checking a photo
    # decodes it in full once, so the pixel cap also bounds memory. Measured at 64 MP, the peak
    # grows per photo by ~290 MB for a PNG (Pillow holds RGB and RGBA at 4 bytes per pixel:
    # 257 MB decoded, the display copy made from it strip by strip), ~50 MB for a JPEG
    # (decoded at 1/4 scale) and ~985 MB for a WebP (all of it Pillow's WebP load: libwebp's
    # animation decoder holds full-size frames of its own beside the image). At most
    # photo_decode_concurrency photos are decoded at once per process; more uploads wait.
    photo_max_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    photo_max_megapixels: float = Field(default=65.0, gt=0)
    photo_decode_concurrency: int = Field(default=2, ge=1)
    batch_max_items: int = Field(default=500, gt=0)
    # Request bodies, refused with 413 while they are read (app/api/limits.py): most routes,
    # and the offline batch and GPS tracks (500 reports or 20,000 track points).
    body_max_bytes: int = Field(default=1024 * 1024, gt=0)
    bulk_body_max_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    # An upload on the import page (/admin/import): a zipped Shapefile or GeoPackage of a
    # city's grid, or a roster workbook.
    import_max_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    # Signing in (app/domain/people/signin.py): after this many wrong passwords in a row for one
    # username from one network (IPv4 /24, IPv6 /64), or from all networks together, each
    # further attempt waits a growing delay (backoff_seconds, doubling, at most
    # backoff_max_seconds); an address that signed in to the account within
    # known_address_days is let through with the right password. Failures are forgotten a
    # day after the last one. And at most this many attempts per minute from one address.
    login_max_failures: int = Field(default=5, ge=1)
    login_max_failures_all_networks: int = Field(default=50, ge=1)
    login_backoff_seconds: float = Field(default=2.0, gt=0)
    login_backoff_max_seconds: float = Field(default=900.0, gt=0)
    login_known_address_days: float = Field(default=30.0, ge=0)
    login_attempts_per_minute: int = Field(default=20, ge=1)
    # Hotspots (SPEC §4). Missed by the grid (漏报): no counted `issue` report of the cell
    # within missed_radius_m in the missed_days before the hotspot was found; such a hotspot
    # is a `missed_problem` gap for missed_problem_days (SPEC §5).
    require_photo_evidence: bool = False
    missed_radius_m: float = Field(default=200.0, gt=0)
    missed_days: float = Field(default=7.0, gt=0)
    missed_problem_days: int = Field(default=30, ge=1)
    # Accountability exports: lapses shorter than this many hours are left out unless a request
    # gives its own `min_hours` (the tolerance; the file states the value used).
    export_min_hours: float = Field(default=0.0, ge=0, le=24 * 400)
    # The largest exported file POST /api/v1/exports/verify accepts for checking.
    export_verify_max_bytes: int = Field(default=512 * 1024 * 1024, gt=0)
    # The pollution-source ledger (SPEC §4): a counted patrol within this distance of a
    # source inspects it. Changing it recomputes every source's last inspection (app/rules.py).
    source_radius_m: float = Field(default=50.0, gt=0, le=5000)
    # A case opened from a report lies at most this far from the report's point (geodesic).
    hotspot_report_radius_m: float = Field(default=200.0, gt=0)
    # Open311 GeoReport v2: comma-separated API keys of the complaint channels allowed to POST;
    # at most this many POSTs, and this many wrong keys, per minute from one address.
    open311_keys: str = ""
    open311_posts_per_minute: int = Field(default=60, ge=1)
    open311_wrong_keys_per_minute: int = Field(default=5, ge=1)
    # Comma-separated addresses or CIDR networks of reverse proxies whose X-Forwarded-For and
    # X-Forwarded-Proto are believed. Empty: nobody's (the peer's own address is the client).
    trusted_proxies: str = ""
    # The map's basemap: "none", "osm", "tianditu" (needs tianditu_key) or a tile URL template
    # such as an intranet server's "https://tiles.example.gov.cn/{z}/{x}/{y}.png".
    basemap: str = "none"
    # Treat the site as HTTPS for cookies (Secure, `__Host-` names) even when the app sees
    # plain HTTP: behind a TLS proxy not listed in trusted_proxies.
    secure_cookies: bool = False
    basemap_attribution: str = ""
    tianditu_key: str = ""
    # Where users reach gridwatch, e.g. "https://gridwatch.example.gov.cn" (links in
    # notifications). Empty: messages carry the path only (/desk?case=…).
    public_url: str = ""
    # The notifier (app/domain/notify/): webhook targets as a JSON list, e.g.
    # [{"url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…", "format": "wecom"}].
    # Empty: no events are written and no worker runs. The server runs the worker in a thread
    # unless notify_worker is false (then run `gridwatch notify` from cron or a service).
    # Every notify_interval_seconds it raises due-soon/overdue events and delivers what is
    # due; a failed delivery is tried again after notify_retry_base_seconds, doubling up to
    # notify_retry_max_seconds. Each POST gives up after notify_timeout_seconds.
    # Operations (docs/operations.md): the bearer token a Prometheus scraper sends for /metrics
    # (unset: only signed-in admins read it), and the server's log lines: `text` for a
    # terminal, `json` (one object per line, with the request id) for a log collector.
    metrics_token: SecretStr | None = None
    log_format: Literal["text", "json"] = "text"
    notify_webhooks: list[WebhookTarget] = Field(default_factory=list)
    notify_worker: bool = True
    notify_interval_seconds: float = Field(default=30.0, gt=0)
    notify_timeout_seconds: float = Field(default=10.0, gt=0)
    notify_retry_base_seconds: float = Field(default=30.0, gt=0)
    notify_retry_max_seconds: float = Field(default=3600.0, gt=0)

    @field_validator("secret_key", "metrics_token", mode="before")
    @classmethod
    def _blank_secret_is_unset(cls, value: object) -> object:
        # `GRIDWATCH_SECRET_KEY=` (as `${VAR:-}` in a compose file writes it) means "not set":
        # a secret is then generated, never an empty HMAC key.
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        return None if isinstance(raw, str) and not raw.strip() else value

    @model_validator(mode="after")
    def _refuse_short_secret(self) -> Settings:
        # In every environment: development is only the default, not a promise of a lab.
        if (
            self.secret_key is not None
            and len(self.secret_key.get_secret_value()) < MIN_SECRET_LENGTH
        ):
            raise ValueError(
                f"GRIDWATCH_SECRET_KEY must have at least {MIN_SECRET_LENGTH} characters "
                "(or leave it unset: gridwatch then generates one and keeps it with the data)"
            )
        return self

    @model_validator(mode="after")
    def _s3_needs_a_bucket(self) -> Settings:
        if self.photo_backend == "s3" and not self.s3_bucket.strip():
            raise ValueError("GRIDWATCH_PHOTO_STORE=s3 needs GRIDWATCH_S3_BUCKET")
        return self

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: str) -> str:
        for item in _items(value):
            try:
                ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"GRIDWATCH_TRUSTED_PROXIES: {item!r} is not an IP address or CIDR network"
                ) from None
        return value

    def patrol_interval_for(self, risk: str) -> int:
        return {
            "high": self.patrol_hours_high,
            "medium": self.patrol_hours_medium,
            "low": self.patrol_hours_low,
        }[risk]

    @field_validator("notify_webhooks")
    @classmethod
    def _target_names_unique(cls, value: list[WebhookTarget]) -> list[WebhookTarget]:
        keys = [t.key for t in value]
        for key in keys:
            if keys.count(key) > 1:
                raise ValueError(f"GRIDWATCH_NOTIFY_WEBHOOKS: two targets are named {key!r}")
        return value

    @property
    def open311_key_list(self) -> list[str]:
        return _items(self.open311_keys)

    @property
    def trusted_proxy_list(self) -> list[str]:
        """Canonical networks (`10.0.0.1/8` → `10.0.0.0/8`): uvicorn parses strictly and would
        otherwise treat a non-canonical one as a literal host that never matches."""
        return [
            str(ip_network(item, strict=False)) if "/" in item else item
            for item in _items(self.trusted_proxies)
        ]

    @property
    def read_database_urls(self) -> list[str]:
        return _items(self.read_database_url)

    @property
    def photo_store(self) -> Path:
        return self.photo_dir or self.data_dir / "photos"


def _items(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()
