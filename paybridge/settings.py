"""One settings object, read from the environment (and an optional `.env` file).

Everything configurable lives here so that the app, the API, the worker and the CLI agree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DEFAULT_SECRET = "dev-insecure-secret-change-me"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _load_dotenv(path: Path) -> None:
    """Fill os.environ from KEY=VALUE lines without overriding what is already set."""
    if not path.is_file():
        return
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        os.environ.setdefault(key.strip(), value.strip().strip("'\""))


@dataclass(frozen=True)
class Settings:
    env: str
    database_url: str
    redis_url: str | None
    secret_key: str
    hold_days: int

    @property
    def is_production(self) -> bool:
        return self.env == "prod"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _normalise_database_url(url: str) -> str:
    """Accept the common `postgres://` / `postgresql://` spellings and use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    _load_dotenv(PROJECT_ROOT / ".env")
    env = os.environ.get("PAYBRIDGE_ENV", "dev")
    secret = os.environ.get("PAYBRIDGE_SECRET_KEY", DEFAULT_SECRET)
    if env == "prod" and secret == DEFAULT_SECRET:
        raise RuntimeError("PAYBRIDGE_SECRET_KEY must be set to a real secret in production")
    hold_days = int(os.environ.get("PAYBRIDGE_HOLD_DAYS", "7"))
    if not 0 <= hold_days <= 365:
        raise RuntimeError("PAYBRIDGE_HOLD_DAYS must be between 0 and 365")
    return Settings(
        env=env,
        database_url=_normalise_database_url(
            os.environ.get("DATABASE_URL", f"sqlite:///{PROJECT_ROOT / 'paybridge.db'}")
        ),
        redis_url=os.environ.get("REDIS_URL") or None,
        secret_key=secret,
        hold_days=hold_days,
    )
