"""The app through PgBouncer in transaction mode (Debian's pgbouncer running deploy/pgbouncer.ini,
pointed at the test database): payments (batched), idempotent replays, withdrawals and
refunds raced by many clients, reads, and the payout jobs' lock all work, and the books
balance. Skipped where pgbouncer is not installed (scripts/setup.sh installs it for the suite).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlmodel import select

from paybridge.models import Provider, Settlement
from paybridge.services.payouts import exclusive_job
from tests.api.conftest import Caller
from tests.conftest import TestDatabase, seed_available, use_database
from tests.money import money_problems
from tests.ops.clients import send, together
from tests.ops.topology import ROOT, Instance
from tests.ports import free_port

pytestmark = pytest.mark.timeout(600)

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
PAYMENT = {
    "amount": 1050,
    "currency": "USD",
    "provider": "card",
    "customer_email": "payer@example.com",
    "status": "success",
}


class PgBouncer:
    """deploy/pgbouncer.ini with the test database, a free port and files in `workdir`."""

    def __init__(self, database_url: str, workdir: Path) -> None:
        db = make_url(database_url)
        self.port = free_port()
        conf = (ROOT / "deploy" / "pgbouncer.ini").read_text()
        conf = re.sub(
            r"^paybridge = host=postgres port=5432 dbname=paybridge",
            f"{db.database} = host={db.host or '127.0.0.1'} port={db.port or 5432} "
            f"dbname={db.database} user={db.username or 'postgres'}",
            conf,
            flags=re.M,
        )
        for name, value in (
            ("listen_addr", "127.0.0.1"),
            ("listen_port", str(self.port)),
            ("auth_type", "trust"),
            ("auth_file", str(workdir / "userlist.txt")),
            ("logfile", str(workdir / "pgbouncer.log")),
            ("pidfile", str(workdir / "pgbouncer.pid")),
        ):
            conf = re.sub(rf"^{name} = .*$", f"{name} = {value}", conf, flags=re.M)
        conf += "unix_socket_dir =\n"
        (workdir / "pgbouncer.ini").write_text(conf)
        (workdir / "userlist.txt").write_text(f'"{db.username or "postgres"}" ""\n')
        self.log = workdir / "pgbouncer.log"
        shutil.chown(workdir, "postgres")
        for path in workdir.iterdir():
            shutil.chown(path, "postgres")
        command = [PGBOUNCER, str(workdir / "pgbouncer.ini")]
        if os.geteuid() == 0:  # pgbouncer refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )
        time.sleep(0.5)
        if self.process.poll() is not None:
            log = self.log.read_text() if self.log.exists() else "(no log)"
            raise RuntimeError(f"pgbouncer did not start:\n{log[-2000:]}")
        self.url = db.set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def through_pgbouncer(
    db: TestDatabase, redis_url: str, tmp_path: Path
) -> Iterator[tuple[Instance, PgBouncer]]:
    if db.is_sqlite:
        pytest.skip("PgBouncer pools PostgreSQL connections")
    if not Path(PGBOUNCER).exists():
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")
    # Its own directory under /tmp: pgbouncer runs as postgres, which cannot enter pytest's.
    workdir = Path(tempfile.mkdtemp(prefix="paybridge-pgbouncer-"))
    bouncer = PgBouncer(db.url, workdir)
    instance = None
    try:
        env = {
            **os.environ,
            "DATABASE_URL": bouncer.url,
            "PAYBRIDGE_DB_PGBOUNCER": "1",
            "PAYBRIDGE_DB_MAX_CONNECTIONS": "1000",
            "REDIS_URL": redis_url,
            "REFLEX_REDIS_URL": redis_url,
            "GRANIAN_WORKERS": "2",
            "PAYBRIDGE_ENV": "test",
            "PAYBRIDGE_API_RATE_LIMIT": "0",
            "REFLEX_TELEMETRY_ENABLED": "false",
            "REFLEX_USE_SYSTEM_BUN": "1",
            "PYTHONUNBUFFERED": "1",
        }
        instance = Instance(env=env, log=tmp_path / "instance.log")
        instance.wait_ready()
        yield instance, bouncer
    finally:
        if instance is not None:
            instance.stop()
        bouncer.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def test_payments_payouts_and_refunds_through_pgbouncer(
    through_pgbouncer: tuple[Instance, PgBouncer],
    db: TestDatabase,
    alice: Caller,
    providers: dict[str, Provider],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    instance, bouncer = through_pgbouncer
    seed_available(alice.user.id, providers["card"], 20_000)

    payments = together(
        60,
        lambda n: send(
            instance.url, "/transactions", {**PAYMENT, "reference": f"pb-{n}"}, alice.token,
            key=f"pb-{n}",
        ),
    )  # fmt: skip
    assert [a.status for a in payments] == [201] * 60
    replay = send(
        instance.url, "/transactions", {**PAYMENT, "reference": "pb-7"}, alice.token, key="pb-7"
    )
    assert replay.status == 201 and replay.replayed and replay.body == payments[7].body

    withdrawals = together(
        20,
        lambda n: send(
            instance.url, "/settlements/withdraw", {"amount": 2_000, "currency": "USD"},
            alice.token, key=f"w-{n}",
        ),
    )  # fmt: skip
    assert sorted(a.status for a in withdrawals) == [201] * 10 + [422] * 10
    refunds = together(
        20,
        lambda n: send(
            instance.url, f"/transactions/pb-{n % 5}/refund", {"amount": 250}, alice.token
        ),
    )
    assert sorted(a.status for a in refunds) == [200] * 20

    # The payout jobs take turns through an advisory lock held by a transaction, which
    # transaction pooling keeps on one server connection.
    monkeypatch.setenv("PAYBRIDGE_DB_PGBOUNCER", "1")
    monkeypatch.setenv("DATABASE_URL", bouncer.url)
    use_database(bouncer.url)
    try:
        with exclusive_job("test-job") as mine, exclusive_job("test-job") as other:
            assert mine and not other
    finally:  # the tests after this one get the engine they would get without it
        monkeypatch.delenv("PAYBRIDGE_DB_PGBOUNCER")
        monkeypatch.setenv("DATABASE_URL", db.url)
        use_database(db.url)
    with db.session() as session:
        assert len(session.exec(select(Settlement)).all()) == 10
        assert money_problems(session) == []
