"""Reflex configuration: the database and Redis come from PayBridge settings (environment)."""

import os
from pathlib import Path

import reflex as rx

from paybridge.settings import SettingsError, get_settings

# Reflex reads this file once, sets REFLEX_ENV_MODE (`reflex run --env prod`), then reads it
# again: the settings are read again too, so that production is known before anything serves.
get_settings.cache_clear()
try:
    settings = get_settings()
except SettingsError as error:
    raise SystemExit(f"error: {error}") from None
# With Redis, a worker keeps a tab's state and its lock between writes while no other process
# asks for them (Reflex's "oplock"): a live dashboard writes its state several times a second,
# and 200 of them measured 40 % faster this way (bench/HISTORY.md, 2026-11-30). Each hold ends
# with a save to Redis and the next write takes the lock and loads the state again, so the hold
# is as long as Reflex's 10-s lock expiry allows: 8 s measured a further 15-35 % faster than 2 s.
# Another process that asks for the state breaks the hold at once.
os.environ.setdefault("REFLEX_OPLOCK_ENABLED", "true")
os.environ.setdefault("REFLEX_OPLOCK_HOLD_TIME", "8s")
# Development mode (`make dev`) reloads the backend when a watched file changes. Reflex watches
# the whole project root by default, where files that the running app writes itself (a SQLite
# database's -wal and -shm, logs, test and bench output) reloaded it dozens of times a minute
# with nobody editing anything. Only the app's source is watched: the data the app writes lives
# in data/ (paybridge.settings.DATA_DIR), which is not.
_here = Path(__file__).resolve().parent
os.environ.setdefault(
    "REFLEX_HOT_RELOAD_OVERRIDE_PATHS",
    os.pathsep.join(str(_here / name) for name in ("paybridge", "assets")),
)
frontend_port = int(os.environ.get("PAYBRIDGE_PORT", "3000"))

config = rx.Config(
    app_name="paybridge",
    db_url=settings.database_url,
    redis_url=settings.redis_url,
    telemetry_enabled=False,
    show_built_with_reflex=False,
    cors_allowed_origins=[
        origin.strip()
        for origin in os.environ.get(
            "PAYBRIDGE_ALLOWED_ORIGINS",
            f"http://localhost:{frontend_port},http://127.0.0.1:{frontend_port}",
        ).split(",")
        if origin.strip()
    ],
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="indigo", radius="medium"))],
    disable_plugins=[rx.plugins.SitemapPlugin],
)
