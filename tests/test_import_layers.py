"""The import contract in pyproject.toml ([tool.importlinter]): imports point down the layers
(app > pages > components > states | api > views > services > selectors > events > models),
no cycles between sibling modules, no Reflex below the states, no SQL in the states. It holds
for the code as it is, and it refuses an upward import when one is added."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def _lint(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache"],
        cwd=project,
        env={"PYTHONPATH": str(project), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_code_keeps_the_contract() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_or_a_cycle_breaks_it(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "paybridge", tmp_path / "paybridge")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    selector = tmp_path / "paybridge" / "selectors" / "users.py"
    selector.write_text(selector.read_text() + "\nimport paybridge.state.session  # noqa\n")
    view = tmp_path / "paybridge" / "views" / "labels.py"
    view.write_text(view.read_text() + "\nimport reflex  # noqa\n")
    state = tmp_path / "paybridge" / "state" / "team.py"
    state.write_text(state.read_text() + "\nfrom sqlmodel import select  # noqa\n")

    result = _lint(tmp_path)

    assert result.returncode != 0
    assert "paybridge.selectors.users -> paybridge.state.session" in result.stdout
    assert "paybridge.views.labels -> reflex" in result.stdout
    assert "paybridge.state.team -> sqlmodel" in result.stdout
    assert "Contracts: 0 kept, 4 broken." in result.stdout
