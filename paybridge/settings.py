"""One settings object, read from the environment (and an optional `.env` file).

Everything configurable lives here so that the app, the API, the worker and the CLI agree.

The secret key signs API tokens and device cookies, so no value of it lives in the source.
Production (`PAYBRIDGE_ENV=prod`, or `reflex run --env prod` without a `PAYBRIDGE_ENV`)
refuses to run without `PAYBRIDGE_SECRET_KEY`; anywhere else a random key is generated on first
use and kept in the git-ignored `.paybridge-secret`, so every process of one checkout (app
workers, CLI, tests) shares it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Everything the running app writes on its own (the embedded SQLite database with its -wal and
# -shm files, the logs of `make run` / `make dev`) lives here: one git-ignored folder, outside
# the paths that development mode's hot reload watches, so that the app's own writes never
# reload it.
DATA_DIR = PROJECT_ROOT / "data"
SECRET_FILE = PROJECT_ROOT / ".paybridge-secret"
MIN_SECRET_LENGTH = 32


class SettingsError(RuntimeError):
    """The configuration cannot work; the message says what to set."""


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


def environment_name() -> str:
    """`PAYBRIDGE_ENV` when set; otherwise "prod" under `reflex run --env prod` (Reflex sets
    REFLEX_ENV_MODE before it loads the app), "dev" anywhere else."""
    explicit = os.environ.get("PAYBRIDGE_ENV", "").strip()
    if explicit:
        return explicit
    return "prod" if os.environ.get("REFLEX_ENV_MODE", "").strip() == "prod" else "dev"


def _compiling_for_export() -> bool:
    """`reflex export` compiles the app in production mode but serves nothing: no secret.
    (Reflex keeps the command it runs in an internal variable, hence the underscores.)"""
    return os.environ.get("__REFLEX_COMPILE_CONTEXT", "").strip() == "export"


def missing_secret_message() -> str:
    return (
        f"PAYBRIDGE_SECRET_KEY is not set (or shorter than {MIN_SECRET_LENGTH} characters), and "
        "this is production (PAYBRIDGE_ENV=prod, or `reflex run --env prod` / `python -m "
        "paybridge serve` without a PAYBRIDGE_ENV). The key signs API tokens and device "
        "cookies and must be your own. Generate one with\n"
        "    python -c 'import secrets; print(secrets.token_urlsafe(48))'\n"
        "and set it in the environment or in .env (PAYBRIDGE_SECRET_KEY=...). Every instance "
        "of one deployment needs the same value. For local development set PAYBRIDGE_ENV=dev "
        f"instead: a random key is then generated and kept in {SECRET_FILE.name}."
    )


def local_secret(path: Path = SECRET_FILE) -> str:
    """The key kept in `path`, created with a random value on first use. Processes starting
    together agree: each writes its own temporary file and links it into place, which only
    the first one manages; everyone then reads the winner's key."""
    try:
        existing = path.read_text().strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        return existing
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_urlsafe(48) + "\n")
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path.read_text().strip()


@dataclass(frozen=True)
class Settings:
    env: str
    database_url: str
    redis_url: str | None
    hold_days: int
    _secret_key: str | None

    @property
    def is_production(self) -> bool:
        return self.env == "prod"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def secret_key(self) -> str:
        """Read (or generated) on first use, so that commands that sign nothing write no file."""
        if self._secret_key is not None:
            return self._secret_key
        if self.is_production:
            raise SettingsError(missing_secret_message())
        return local_secret()


def _normalise_database_url(url: str) -> str:
    """Accept the common `postgres://` / `postgresql://` spellings and use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings; in production, raises `SettingsError` when the secret key is missing
    or short (except while `reflex export` compiles the frontend)."""
    _load_dotenv(PROJECT_ROOT / ".env")
    env = environment_name()
    secret = os.environ.get("PAYBRIDGE_SECRET_KEY", "").strip() or None
    if env == "prod" and (secret is None or len(secret) < MIN_SECRET_LENGTH):
        if not _compiling_for_export():
            raise SettingsError(missing_secret_message())
        secret = None
    hold_days = int(os.environ.get("PAYBRIDGE_HOLD_DAYS", "7"))
    if not 0 <= hold_days <= 365:
        raise SettingsError("PAYBRIDGE_HOLD_DAYS must be between 0 and 365")
    return Settings(
        env=env,
        database_url=_normalise_database_url(
            os.environ.get("DATABASE_URL", f"sqlite:///{DATA_DIR / 'paybridge.db'}")
        ),
        redis_url=os.environ.get("REDIS_URL") or None,
        hold_days=hold_days,
        _secret_key=secret,
    )
