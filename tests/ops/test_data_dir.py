"""What the running app writes stays out of the hot-reload watch of `make dev`: the embedded
database defaults to data/ (git-ignored, created on first use), and development mode watches
only the app's source."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from paybridge.engine import make_engine
from paybridge.settings import DATA_DIR, get_settings

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(120)


def test_the_embedded_default_lives_in_the_ignored_data_folder(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        assert get_settings().database_url == f"sqlite:///{DATA_DIR / 'paybridge.db'}"
    finally:
        get_settings.cache_clear()
    assert DATA_DIR == ROOT / "data"
    names = ["data/paybridge.db", "data/paybridge.db-wal", "data/worker.log", "data/simulate.log"]
    ignored = subprocess.run(
        ["git", "check-ignore", *names], cwd=ROOT, capture_output=True, text=True
    )
    assert ignored.stdout.split() == names


def test_a_sqlite_database_in_a_missing_folder_is_created_with_it(tmp_path):
    path = tmp_path / "new" / "folder" / "app.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("CREATE TABLE t (x INTEGER)"))
            connection.execute(sa.text("INSERT INTO t VALUES (1)"))
    finally:
        engine.dispose()
    assert path.is_file()


def test_development_mode_watches_only_the_source():
    """Reflex's own answer to "what does the hot reload watch", with the project's rxconfig."""
    script = (  # as `reflex run` does: the project on sys.path, its config read first
        "import json, os, sys\n"
        "sys.path.insert(0, os.getcwd())\n"
        "from reflex_base.config import get_config\n"
        "from reflex.utils.exec import get_reload_paths\n"
        "get_config()\n"
        "print(json.dumps([str(p) for p in get_reload_paths()]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFLEX_HOT_RELOAD")}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**env, "REFLEX_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    watched = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(watched) == [str(ROOT / "assets"), str(ROOT / "paybridge")]
