"""No usable default secret: production refuses to start without its own key, with a message
that says how to set one; anywhere else a random key is generated once and shared by every
process of the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from paybridge.settings import (
    SettingsError,
    environment_name,
    get_settings,
    local_secret,
)
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(300)


def _without_secret(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PAYBRIDGE_SECRET_KEY", "PAYBRIDGE_ENV", "REFLEX_ENV_MODE")
    }
    return {
        **env,
        "DATABASE_URL": "sqlite:////nonexistent/never-opened.db",
        "REFLEX_TELEMETRY_ENABLED": "false",
        "REFLEX_USE_SYSTEM_BUN": "1",
        **extra,
    }


@pytest.mark.parametrize(
    ("command", "extra"),
    [
        ([str(Path(sys.executable).with_name("reflex")), "run", "--env", "prod"], {}),
        ([sys.executable, "-m", "paybridge", "serve"], {}),  # --env prod by default
        ([sys.executable, "-m", "paybridge", "serve"], {"PAYBRIDGE_SECRET_KEY": "changeme"}),
        ([sys.executable, "-m", "paybridge", "serve"], {"PAYBRIDGE_ENV": "prod"}),
    ],
    ids=["reflex-run-prod", "serve", "serve-short-key", "serve-env-prod"],
)
def test_production_refuses_to_start_without_a_secret(command: list[str], extra) -> None:
    port = str(free_port())
    finished = subprocess.run(
        [*command, "--backend-only", "--backend-port", port],
        cwd=ROOT,
        env=_without_secret(**extra),
        capture_output=True,
        text=True,
        timeout=180,
    )
    output = finished.stdout + finished.stderr
    assert finished.returncode != 0, output[-3000:]
    assert "PAYBRIDGE_SECRET_KEY is not set" in output, output[-3000:]
    assert "secrets.token_urlsafe(48)" in output  # how to make one
    assert "Traceback" not in output  # a message, not a crash


def test_production_is_explicit_or_reflex_prod(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PAYBRIDGE_ENV", "REFLEX_ENV_MODE", "PAYBRIDGE_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert environment_name() == "dev"
    monkeypatch.setenv("REFLEX_ENV_MODE", "prod")
    assert environment_name() == "prod"
    get_settings.cache_clear()
    with pytest.raises(SettingsError, match="PAYBRIDGE_SECRET_KEY"):
        get_settings()
    monkeypatch.setenv("__REFLEX_COMPILE_CONTEXT", "export")  # compiling the UI signs nothing
    get_settings.cache_clear()
    settings = get_settings()
    with pytest.raises(SettingsError):
        _ = settings.secret_key
    monkeypatch.delenv("__REFLEX_COMPILE_CONTEXT")
    monkeypatch.setenv("PAYBRIDGE_SECRET_KEY", "k" * 48)
    get_settings.cache_clear()
    assert get_settings().secret_key == "k" * 48
    monkeypatch.setenv("PAYBRIDGE_ENV", "test")  # an explicit PAYBRIDGE_ENV wins
    assert environment_name() == "test"
    get_settings.cache_clear()


def _read(path: str) -> str:
    return local_secret(Path(path))


def test_the_development_secret_is_random_and_made_once(tmp_path: Path) -> None:
    """Processes starting at once (Granian workers, the worker, the CLI) agree on one key."""
    path = tmp_path / ".paybridge-secret"
    with ProcessPoolExecutor(8) as pool:
        keys = set(pool.map(_read, [str(path)] * 32))
    assert len(keys) == 1
    (key,) = keys
    assert len(key) >= 64 and path.read_text().strip() == key
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in tmp_path.iterdir()] == [".paybridge-secret"]  # no leftovers
    other = tmp_path / "elsewhere"
    other.mkdir()
    assert local_secret(other / ".paybridge-secret") != key  # another checkout, another key


def test_the_secret_file_is_git_ignored() -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", ".paybridge-secret"], cwd=ROOT, capture_output=True, text=True
    )
    assert ignored.returncode == 0
