"""No database session, connection or unit of work is held across an `await` (or handed out by a
`yield`) anywhere in the app, except by the context managers in paybridge/db.py that make them.

A coroutine holding a transaction across an await can be cancelled or starved of threads
between two statements, leaving the transaction open with its locks (the outage of an
abandoned idempotent request). Database work belongs in one synchronous call run in a thread.
"""

from __future__ import annotations

import ast
from pathlib import Path

import paybridge

ROOT = Path(paybridge.__file__).parent
# The session factories themselves, and the exclusive-job lock (a sync generator whose body is
# a `with` block: its caller runs synchronously in a worker thread).
ALLOWED = {
    ("db.py", "read_session"),
    ("db.py", "read_connection"),
    ("db.py", "write_session"),
    ("services/payouts.py", "exclusive_job"),
}
HOLDERS = ("session", "unit", "connect", "begin")


def opened_by(item: ast.withitem) -> str:
    """What a `with` item calls (`read_session`, `engine.connect`), without its arguments: a
    context manager merely given a session id is not a session."""
    expr = item.context_expr
    return ast.unparse(expr.func if isinstance(expr, ast.Call) else expr)


def holds_database(node: ast.With | ast.AsyncWith) -> bool:
    return any(word in opened_by(item) for item in node.items for word in HOLDERS) and not any(
        "watching_session" in opened_by(item) for item in node.items
    )


def offenders(root: Path = ROOT) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        tree = ast.parse(path.read_text())
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if (relative, function.name) in ALLOWED:
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.With | ast.AsyncWith) and holds_database(node):
                    for inner in ast.walk(node):
                        if isinstance(inner, ast.Await | ast.Yield | ast.YieldFrom):
                            found.append(f"{relative}:{node.lineno} {function.name}")
                            break
    return found


def test_no_session_is_held_across_an_await() -> None:
    assert offenders() == []


def test_the_check_finds_a_session_held_across_an_await(tmp_path: Path) -> None:
    (tmp_path / "state.py").write_text(
        "async def handler():\n"
        "    with read_session() as session:\n"
        "        await thing(session)\n"
        "async def fine():\n"
        "    with read_session() as session:\n"
        "        rows = load(session)\n"
        "    await show(rows)\n"
    )
    assert offenders(tmp_path) == ["state.py:2 handler"]
