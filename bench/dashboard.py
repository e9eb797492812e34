"""Dashboard load from the hourly rollups vs. the raw reference scan, on PostgreSQL.

Seeds one merchant with N payments (COPY for the transactions, one INSERT ... SELECT ... GROUP BY
for the hourly rollups), checks once that the rollup and raw paths agree, then times one
dashboard load — every number and series the dashboard shows:

    selectors.analytics.dashboard_metrics   (30-day period, main currency)
  + selectors.balances.balances
  + selectors.activity.recent_transactions

against the same load with selectors.reference.dashboard_metrics_raw instead of the rollups.

    .venv/bin/python bench/dashboard.py                       # 1M payments over 90 days
    .venv/bin/python bench/dashboard.py --reuse               # keep an already seeded merchant
    .venv/bin/python bench/dashboard.py --transactions 10000000 --raw-repeat 3

See bench/README.md for recorded results.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, select
from tqdm import tqdm

# Runnable as `python bench/dashboard.py` without installing the project; paybridge itself is
# imported inside main(), after DATABASE_URL points at the bench database.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/paybridge_bench"
MERCHANT_TZ = "Africa/Lagos"
COPY_COLUMNS = (
    "merchant_id, reference, amount, currency, status, provider_id, customer_email, "
    "fee, net_amount, created_at, updated_at"
)
PARTIAL_REFUND_RATE = 0.005  # share of successful payments partly refunded (if the schema can)
CHUNK = 20_000  # rows per COPY write / progress update


# --------------------------------------------------------------------------- database setup


def admin_conninfo(url: str) -> tuple[str, str]:
    """(libpq conninfo of the server's `test` database, name of the bench database)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        sys.exit("this benchmark needs PostgreSQL (postgresql+psycopg://...)")
    admin = parsed.set(drivername="postgresql", database="test")
    return admin.render_as_string(hide_password=False), parsed.database or "paybridge_bench"


def ensure_database(url: str) -> None:
    conninfo, name = admin_conninfo(url)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")


def drop_database(url: str) -> None:
    conninfo, name = admin_conninfo(url)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"dropped database {name}")


def libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# --------------------------------------------------------------------------- seeding


def ensure_merchant(engine: Engine, transactions: int) -> int:
    """One bench merchant per size, so a 1M and a 10M merchant can live in the same database."""
    from paybridge.models import KycStatus, User

    email = f"bench-{transactions}@bench.paybridge.test"
    with Session(engine) as session:
        user = session.exec(select(User).where(User.email == email)).first()
        if user is None:
            user = User(
                email=email,
                password_hash="!",  # not a bcrypt hash: nobody can log in as this merchant
                full_name="Bench Merchant",
                company_name=f"Bench {transactions:,} Ltd",
                kyc_status=KycStatus.VERIFIED.value,
                timezone=MERCHANT_TZ,
            )
            session.add(user)
            session.commit()
        return int(user.id)


def merchant_rows(engine: Engine, merchant_id: int) -> tuple[int, int]:
    """(transactions, sum of rollup counts) of the merchant."""
    with engine.connect() as conn:
        tx = conn.execute(
            sa.text("SELECT count(*) FROM transactions WHERE merchant_id = :m"), {"m": merchant_id}
        ).scalar_one()
        rolled = conn.execute(
            sa.text("SELECT coalesce(sum(count), 0) FROM hourly_rollups WHERE merchant_id = :m"),
            {"m": merchant_id},
        ).scalar_one()
    return int(tx), int(rolled)


def clear_merchant(url: str, merchant_id: int) -> None:
    """Remove the merchant's payments and rollups; TRUNCATE when nobody else has any."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        others = conn.execute(
            "SELECT count(*) FROM (SELECT DISTINCT merchant_id FROM hourly_rollups "
            "WHERE merchant_id <> %s) o",
            (merchant_id,),
        ).fetchone()[0]
        if others == 0:
            # CASCADE: also what references payments (refunds), in this bench-only database.
            tables = ", ".join(rollup_tables())
            conn.execute(f"TRUNCATE {tables}, transactions RESTART IDENTITY CASCADE")
        else:
            for table in [*rollup_tables(), "transactions"]:
                conn.execute(f"DELETE FROM {table} WHERE merchant_id = %s", (merchant_id,))


def payment_moments(rng: random.Random, count: int, days: int, end: datetime) -> list[float]:
    """Unix timestamps drawn like services.demo.seed_history (growing over time, daytime
    peaks), sorted so ids grow with created_at as they do for live traffic."""
    span = days * 86400.0
    start = end.timestamp() - span
    latest = span - 1.0
    moments = []
    for _ in range(count):
        offset = span * rng.random() ** 0.8
        hour = int((start + offset) // 3600) % 24
        if 1 <= hour <= 6 and rng.random() < 0.6:
            offset += 8 * 3600
        moments.append(start + min(offset, latest))
    moments.sort()
    return moments


# Rollup grains some schemas keep beside the hourly one, each summed from the hourly buckets
# (the quarter-hour one from the payments): {table: (key columns, how each is computed)}.
GRAINS = {
    "quarter_rollups": (
        ("merchant_id", "currency", "quarter", "provider_id", "status"),
        (
            "merchant_id",
            "currency",
            "date_bin('15 minutes', created_at, TIMESTAMPTZ '2000-01-01 00:00:00+00')",
            "provider_id",
            "status",
        ),
    ),
    "daily_rollups": (
        ("merchant_id", "currency", "day", "provider_id", "status"),
        ("merchant_id", "currency", "(hour AT TIME ZONE 'UTC')::date", "provider_id", "status"),
    ),
    "rollup_totals": (
        ("merchant_id", "currency", "provider_id", "status"),
        ("merchant_id", "currency", "provider_id", "status"),
    ),
}


def rollup_tables() -> list[str]:
    """hourly_rollups plus whichever coarser grains the models define."""
    from sqlmodel import SQLModel

    import paybridge.models  # noqa: F401  (registers every table)

    return ["hourly_rollups", *(t for t in GRAINS if t in SQLModel.metadata.tables)]


def grain_sql(table: str, refunds: bool) -> str:
    sums = ["count", "gross", "fees", "net"] + (["refunded", "refunded_net"] if refunds else [])
    names, exprs = GRAINS[table]
    if table == "quarter_rollups":
        raw = ["count(*)", "sum(amount)", "sum(fee)", "sum(net_amount)"]
        raw += ["sum(refunded_amount)", "sum(refunded_net)"] if refunds else []
        return (
            f"INSERT INTO {table} ({', '.join(names)}, {', '.join(sums)}) "
            f"SELECT {', '.join(exprs)}, {', '.join(raw)} "
            f"FROM transactions WHERE merchant_id = %s GROUP BY {', '.join(exprs)}"
        )
    return (
        f"INSERT INTO {table} ({', '.join(names)}, {', '.join(sums)}) "
        f"SELECT {', '.join(exprs)}, {', '.join(f'sum({n})' for n in sums)} "
        f"FROM hourly_rollups WHERE merchant_id = %s GROUP BY {', '.join(exprs)}"
    )


def has_refund_columns() -> bool:
    """Whether payments and rollups carry refunded sums (partial refunds) in this schema."""
    from paybridge.models import HourlyRollup, Transaction

    return "refunded_amount" in Transaction.__table__.c and "refunded" in HourlyRollup.__table__.c


def payment_lines(
    rng: random.Random, merchant_id: int, moments: list[float], end: datetime, refunds: bool
) -> Iterator[str]:
    """COPY text lines of realistic payments, reusing the demo's random helpers and fees.
    With `refunds`, refunded payments are refunded in full and a few successful ones in part,
    with the net share services.transactions computes."""
    from paybridge.engine import get_engine
    from paybridge.models import Provider, TransactionStatus
    from paybridge.services.demo import final_status, random_customer, random_payment_shape
    from paybridge.services.providers import provider_fee
    from paybridge.services.transactions import new_reference

    if refunds:
        from paybridge.services.refunds import refunded_net_share

    with Session(get_engine()) as session:
        providers = {p.code: p for p in session.exec(select(Provider)).all()}
    pending_after = (end - timedelta(minutes=15)).timestamp()
    pending = TransactionStatus.PENDING.value
    success, refunded = TransactionStatus.SUCCESS.value, TransactionStatus.REFUNDED.value
    fromtimestamp = datetime.fromtimestamp
    for moment in moments:
        currency, amount, code = random_payment_shape(rng)
        provider = providers[code]
        status = pending if moment > pending_after else final_status(rng, code)
        fee = provider_fee(provider, amount)
        net = amount - fee
        created = fromtimestamp(moment, UTC).isoformat()
        line = (
            f"{merchant_id}\t{new_reference()}\t{amount}\t{currency}\t{status}\t{provider.id}\t"
            f"{random_customer(rng)}\t{fee}\t{net}\t{created}\t{created}"
        )
        if refunds:
            back = 0
            if status == refunded:
                back = amount
            elif status == success and amount > 1 and rng.random() < PARTIAL_REFUND_RATE:
                back = rng.randint(1, amount - 1)
            back_net = (
                refunded_net_share(amount=amount, net_amount=net, refunded=back) if back else 0
            )
            line = f"{line}\t{back}\t{back_net}"
        yield line + "\n"


def rollup_sql(refunds: bool) -> str:
    """The buckets services.rollups.rollup_apply keeps (floor_hour(created_at) is in UTC), with
    its sums, built from the payments in one pass."""
    sums = {
        "count": "count(*)",
        "gross": "sum(amount)",
        "fees": "sum(fee)",
        "net": "sum(net_amount)",
    }
    if refunds:
        sums |= {"refunded": "sum(refunded_amount)", "refunded_net": "sum(refunded_net)"}
    hour = "date_trunc('hour', created_at, 'UTC')"
    return (
        f"INSERT INTO hourly_rollups (merchant_id, currency, hour, provider_id, status, "
        f"{', '.join(sums)}) "
        f"SELECT merchant_id, currency, {hour}, provider_id, status, {', '.join(sums.values())} "
        f"FROM transactions WHERE merchant_id = %s "
        f"GROUP BY merchant_id, currency, {hour}, provider_id, status"
    )


# One refund row per refunded payment, as services.transactions writes for a refund at once.
REFUNDS_SQL = """
INSERT INTO refunds (merchant_id, transaction_id, amount, net, created_at)
SELECT merchant_id, id, refunded_amount, refunded_net, updated_at
FROM transactions
WHERE merchant_id = %s AND refunded_amount > 0
ORDER BY id
"""


# The same mixes as services.demo (currencies, providers and their success rates, refunds),
# drawn in SQL: one INSERT ... SELECT over generate_series, ordered by time like live traffic.
SEED_SQL = """
WITH draws AS (
    SELECT g, random() AS rc, random() AS ra, random() AS rb, random() AS rp, random() AS rs,
           random() AS rr, random() AS rt, random() AS rq, random() AS rx
    FROM generate_series(1, %(n)s) AS g
), shaped AS (
    SELECT g, rs, rr, rq, rx,
           CASE WHEN rc < 0.7 THEN 'USD' WHEN rc < 0.9 THEN 'NGN' ELSE 'EUR' END AS currency,
           greatest(100, floor(
               CASE WHEN rc < 0.7 THEN 4500 WHEN rc < 0.9 THEN 2500000 ELSE 6000 END
               * exp(0.9 * sqrt(-2 * ln(1 - ra)) * cos(2 * pi() * rb))
           ))::bigint AS amount,
           CASE WHEN rp < 0.35 THEN 'card' WHEN rp < 0.55 THEN 'mobile_money'
                WHEN rp < 0.70 THEN 'bank_transfer' WHEN rp < 0.85 THEN 'stripe'
                WHEN rp < 0.95 THEN 'paystack' ELSE 'flutterwave' END AS code,
           %(start)s::timestamptz
               + make_interval(secs => least(%(span)s * power(rt, 0.8), %(span)s - 1)) AS created
    FROM draws
), priced AS (
    SELECT s.*, p.id AS provider_id,
           least(s.amount, (s.amount * p.fee_bps + 5000) / 10000 + p.fee_fixed) AS fee,
           CASE WHEN s.created > %(pending_after)s THEN 'pending'
                WHEN s.rs >= CASE s.code WHEN 'card' THEN 0.985 WHEN 'mobile_money' THEN 0.965
                    WHEN 'bank_transfer' THEN 0.99 WHEN 'stripe' THEN 0.992
                    WHEN 'paystack' THEN 0.975 ELSE 0.93 END THEN 'failed'
                WHEN s.rr < 0.012 THEN 'refunded' ELSE 'success' END AS status
    FROM shaped s JOIN providers p ON p.code = s.code
), refunded AS (
    SELECT *, CASE WHEN status = 'refunded' THEN amount
                   WHEN status = 'success' AND amount > 1 AND rq < %(partial)s
                   THEN 1 + floor(rx * (amount - 1))::bigint ELSE 0 END AS back
    FROM priced
)
INSERT INTO transactions (merchant_id, reference, amount, currency, status, provider_id,
    customer_email, fee, net_amount, refunded_amount, refunded_net, created_at, updated_at)
SELECT %(merchant_id)s, 'bench_' || g, amount, currency, status, provider_id,
       'buyer' || (g %% 9973) || '@example.com', fee, amount - fee, back,
       (2 * (amount - fee) * back + amount) / (2 * amount), created, created
FROM refunded ORDER BY created
"""


@dataclass
class SeedTimes:
    generate_and_copy: float = 0.0
    rollups: float = 0.0
    vacuum_analyze: float = 0.0

    @property
    def total(self) -> float:
        return self.generate_and_copy + self.rollups + self.vacuum_analyze


def seed(
    url: str, merchant_id: int, transactions: int, days: int, seed_value: int, set_based: bool
) -> SeedTimes:
    times = SeedTimes()
    refunds = has_refund_columns()
    columns = COPY_COLUMNS + (", refunded_amount, refunded_net" if refunds else "")
    end = datetime.now(UTC)
    rng = random.Random(seed_value + merchant_id)
    t0 = time.perf_counter()
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute("SET synchronous_commit = off")
        if set_based:
            print(f"INSERT ... SELECT FROM generate_series: {transactions:,} payments")
            conn.execute("SELECT setseed(%s)", (seed_value / 1000 % 1,))
            conn.execute(
                SEED_SQL,
                {
                    "n": transactions,
                    "start": end - timedelta(days=days),
                    "span": days * 86400.0,
                    "pending_after": end - timedelta(minutes=15),
                    "partial": PARTIAL_REFUND_RATE,
                    "merchant_id": merchant_id,
                },
            )
        else:
            moments = payment_moments(rng, transactions, days, end)
            bar = tqdm(total=transactions, unit="tx", unit_scale=True, desc="COPY transactions")
            with conn.cursor() as cur, cur.copy(f"COPY transactions ({columns}) FROM STDIN") as cp:
                buffer: list[str] = []
                for line in payment_lines(rng, merchant_id, moments, end, refunds):
                    buffer.append(line)
                    if len(buffer) == CHUNK:
                        cp.write("".join(buffer))
                        bar.update(len(buffer))
                        buffer.clear()
                if buffer:
                    cp.write("".join(buffer))
                    bar.update(len(buffer))
            bar.close()
            del moments
        conn.commit()
        times.generate_and_copy = time.perf_counter() - t0

        t0 = time.perf_counter()
        for table in rollup_tables():
            conn.execute(f"DELETE FROM {table} WHERE merchant_id = %s", (merchant_id,))
        conn.execute(rollup_sql(refunds), (merchant_id,))
        for table in rollup_tables()[1:]:
            conn.execute(grain_sql(table, refunds), (merchant_id,))  # type: ignore[arg-type]
        if refunds:
            conn.execute(REFUNDS_SQL, (merchant_id,))
        conn.commit()
        times.rollups = time.perf_counter() - t0

    # What autovacuum would have done by the time anyone looks: hint bits, visibility map
    # (index-only scans) and planner statistics.
    t0 = time.perf_counter()
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) transactions")
        for table in rollup_tables():
            conn.execute(f"VACUUM (ANALYZE) {table}")
    times.vacuum_analyze = time.perf_counter() - t0
    return times


# --------------------------------------------------------------------------- measuring


@dataclass
class Samples:
    total: list[float] = field(default_factory=list)  # numbers + recent, wall time
    client_cpu: float = 0.0  # mean CPU seconds per load of this process
    server_cpu: float | None = None  # ... and of the PostgreSQL backend, at 10 ms tick resolution
    parts: dict[str, list[float]] = field(default_factory=dict)


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (p95 of 5 samples is the maximum)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def dashboard_load(
    engine: Engine, raw: bool, merchant_id: int, currency: str, period, now: datetime
) -> tuple[float, dict[str, float], tuple]:
    """One dashboard load in a fresh session (what read_session() gives a state handler): every
    number and series (selectors.analytics.dashboard_numbers: metrics, series, currencies,
    balances, in one statement) plus the recent payments. `raw` reads the same numbers with
    the reference scan instead (balances and currencies from the rollups, so the ratio is a
    lower bound)."""
    from paybridge.selectors.activity import recent_transactions
    from paybridge.selectors.analytics import dashboard_numbers, merchant_currencies
    from paybridge.selectors.balances import balances
    from paybridge.selectors.reference import dashboard_metrics_raw

    parts: dict[str, float] = {}
    start = time.perf_counter()
    with Session(engine, expire_on_commit=False) as session:
        t = time.perf_counter()
        if raw:
            merchant_currencies(session=session, merchant_id=merchant_id)
            metrics = dashboard_metrics_raw(
                session=session, merchant_id=merchant_id, currency=currency, period=period
            )
            balance = balances(session=session, merchant_id=merchant_id, now=now)
        else:
            numbers = dashboard_numbers(
                session=session,
                merchant_id=merchant_id,
                period=period,
                currency=currency,
                any_currency=False,
                now=now,
            )
            metrics, balance = numbers.metrics, numbers.balances
        parts["numbers"] = time.perf_counter() - t
        t = time.perf_counter()
        recent = recent_transactions(session=session, merchant_id=merchant_id, limit=10)
        parts["recent"] = time.perf_counter() - t
    return time.perf_counter() - start, parts, (metrics, balance, recent)


def backend_pids(url: str) -> list[int]:
    """The bench database's other client backends (the engine's pooled connections)."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchall()
    return [pid for (pid,) in rows]


def set_priority(url: str, priority: str | None) -> None:
    """Run this process and its PostgreSQL backends at `priority` (root only): "nice:N" (a
    niceness) or "fifo" (SCHED_FIFO, real time: they run as soon as they are ready), None for
    the defaults again. On a machine shared with other work a load then waits (far) less for
    a CPU, so wall time shows what the load itself costs; CPU per load is the same either way.
    Only the rollup loads get it (a raw scan would hold a core for seconds)."""
    for pid in [0, *backend_pids(url)]:
        if priority == "fifo":
            os.sched_setscheduler(pid, os.SCHED_FIFO, os.sched_param(1))
        else:
            os.sched_setscheduler(pid, os.SCHED_OTHER, os.sched_param(0))
            niceness = int(priority.split(":", 1)[1]) if priority else 0
            os.setpriority(os.PRIO_PROCESS, pid, niceness)


def backend_cpu_seconds(url: str) -> float | None:
    """CPU time used so far by the server processes of the bench database's other sessions,
    read from /proc (None when PostgreSQL runs on another host)."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        pids = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchall()
    total = 0.0
    for (pid,) in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime+stime
    return total


def run(
    engine: Engine,
    raw: bool,
    repeat: int,
    warmup: int,
    merchant_id: int,
    currency: str,
    period,
    now: datetime,
    label: str,
    priority: str | None = None,
) -> Samples:
    samples = Samples()
    url = engine.url.render_as_string(hide_password=False)
    for i in tqdm(range(warmup + repeat), desc=label, unit="load", leave=False):
        if i == warmup:  # the pool's connection exists now: start the CPU clocks
            if priority is not None:
                set_priority(url, priority)
            client_cpu, server_cpu = time.process_time(), backend_cpu_seconds(url)
        total, parts, _ = dashboard_load(engine, raw, merchant_id, currency, period, now)
        if i < warmup:
            continue
        samples.total.append(total)
        for name, value in parts.items():
            samples.parts.setdefault(name, []).append(value)
    samples.client_cpu = (time.process_time() - client_cpu) / repeat
    if priority is not None:
        set_priority(url, None)
    server_after = backend_cpu_seconds(url)
    if server_cpu is not None and server_after is not None:
        samples.server_cpu = (server_after - server_cpu) / repeat
    return samples


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.2f}"


def stats_row(name: str, values: list[float]) -> str:
    return (
        f"  {name:<34} {ms(statistics.median(values)):>11} {ms(percentile(values, 95)):>11} "
        f"{ms(max(values)):>11}   n={len(values)}"
    )


def verify(engine: Engine, merchant_id: int, currency: str, period, now: datetime) -> None:
    """The rollup and raw paths must give identical numbers; balances must match a raw sum."""
    from paybridge.models import User
    from paybridge.selectors.analytics import dashboard_metrics
    from paybridge.selectors.balances import balances, hold_days_for
    from paybridge.selectors.reference import dashboard_metrics_raw

    with Session(engine) as session:
        kwargs = dict(session=session, merchant_id=merchant_id, currency=currency, period=period)
        from_rollups = dashboard_metrics(**kwargs)
        from_raw = dashboard_metrics_raw(**kwargs)
        assert from_rollups == from_raw, "rollup and raw dashboard metrics differ"
        cutoff = now - timedelta(days=hold_days_for(session.get(User, merchant_id)))
        kept = "net_amount - refunded_net" if has_refund_columns() else "net_amount"
        raw_balances = session.execute(
            sa.text(
                f"SELECT currency, sum({kept}) FILTER (WHERE created_at < :cutoff), "
                f"sum({kept}) FROM transactions WHERE merchant_id = :m AND status = 'success' "
                "GROUP BY currency ORDER BY currency"
            ),
            {"m": merchant_id, "cutoff": cutoff},
        ).all()
        got = [
            (b.currency, b.available, b.pending)
            for b in balances(session=session, merchant_id=merchant_id, now=now)
        ]
        want = [
            (c, int(avail or 0), int(total) - int(avail or 0)) for c, avail, total in raw_balances
        ]
        assert got == want, f"balances differ from the raw sums: {got} != {want}"
    head = from_rollups.current
    print(
        f"verified: rollups == raw for {period.first_day}..{period.last_day} ({period.tz}), "
        f"{currency}: {head.total_transactions:,} payments, volume {head.total_volume:,} minor "
        f"units, success {head.success_rate_bp} bp, {len(from_rollups.daily)} daily points, "
        f"{len(from_rollups.providers)} providers; balances match a raw scan"
    )


# --------------------------------------------------------------------------- write cost


def hourly_only_add(session: Session, *, transaction, status: str, sign: int) -> None:  # type: ignore[no-untyped-def]
    """What services.rollups wrote before the other grains: one upsert of the hourly bucket
    (the floor the write cost per payment is compared with)."""
    from sqlalchemy.dialects import postgresql

    from paybridge.models import HourlyRollup
    from paybridge.services.rollups import SUMS, floor_hour

    tx = transaction
    table = HourlyRollup.__table__
    values = (sign, tx.amount, tx.fee, tx.net_amount, tx.refunded_amount, tx.refunded_net)
    row = dict(
        merchant_id=tx.merchant_id,
        currency=tx.currency,
        hour=floor_hour(tx.created_at),
        provider_id=tx.provider_id,
        status=status,
    ) | {name: sign * v if name != "count" else v for name, v in zip(SUMS, values, strict=True)}
    statement = postgresql.insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=["merchant_id", "currency", "hour", "provider_id", "status"],
        set_={name: table.c[name] + statement.excluded[name] for name in SUMS},
    )
    session.execute(statement, [row])


def hourly_only_apply(session: Session, changes) -> None:  # type: ignore[no-untyped-def]
    """The hourly-only floor: one upsert per change, as before (a create wrote one, a status
    change or refund two: the -1 before the change and the +1 after it)."""
    for tx, status, sign in changes:
        hourly_only_add(session, transaction=tx, status=status, sign=sign)


def write_cost(engine: Engine, per_round: int, rounds: int) -> dict[str, list[float]]:
    """Seconds per payment written through services.transactions (their transaction, rollups,
    outbox event, commit), one client, alternating rounds of the hourly rollup alone (before)
    and every grain (after): `per_round` payments created pending by `transaction_create`, then
    each made successful by `transaction_update_status`. Also the PostgreSQL backend's CPU per
    payment (both writes). A merchant of its own, removed after."""
    import paybridge.services.transactions as transactions
    from paybridge.services.rollups import rollup_apply

    url = engine.url.render_as_string(hide_password=False)
    merchant_id = ensure_merchant(engine, -1)
    clear_merchant(url, merchant_id)
    results: dict[str, list[float]] = defaultdict(list)
    rng = random.Random(11)
    try:
        for i in range(2 * rounds):
            variant = "before" if i % 2 == 0 else "after"
            transactions.rollup_apply = hourly_only_apply if variant == "before" else rollup_apply
            server0, t0 = backend_cpu_seconds(url), time.perf_counter()
            references = [
                transactions.transaction_create(
                    merchant_id=merchant_id,
                    amount=rng.randint(100, 100_000),
                    currency="USD",
                    provider=rng.choice(["card", "stripe", "paystack"]),
                    customer_email="buyer@example.com",
                ).reference
                for _ in range(per_round)
            ]
            t1 = time.perf_counter()
            for reference in references:
                transactions.transaction_update_status(
                    merchant_id=merchant_id, reference=reference, status="success"
                )
            t2 = time.perf_counter()
            results[variant + "_create"].append((t1 - t0) / per_round)
            results[variant + "_update"].append((t2 - t1) / per_round)
            server1 = backend_cpu_seconds(url)
            if server0 is not None and server1 is not None:
                results[variant + "_cpu"].append((server1 - server0) / per_round)
    finally:
        transactions.rollup_apply = rollup_apply
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            for table in ["events", *rollup_tables(), "transactions"]:
                conn.execute(f"DELETE FROM {table} WHERE merchant_id = %s", (merchant_id,))
    return results


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90, help="history spread over this many days")
    parser.add_argument("--period-days", type=int, default=30, help="dashboard period (30d)")
    parser.add_argument("--repeat", type=int, default=50, help="timed rollup loads")
    parser.add_argument("--raw-repeat", type=int, default=5, help="timed raw loads")
    parser.add_argument("--warmup", type=int, default=5, help="untimed rollup loads first")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--reuse", action="store_true", help="keep a merchant already seeded")
    parser.add_argument("--drop", action="store_true", help="drop the bench database at the end")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--copy-seed",
        action="store_true",
        help="generate payments in Python and COPY them (default: set-based SQL)",
    )
    parser.add_argument(
        "--writes", type=int, default=0, help="also time this many payments written per round"
    )
    parser.add_argument(
        "--priority",
        default=None,
        help="run the timed rollup loads (this process and its PostgreSQL backends) at "
        "'nice:N' or 'fifo' (real time) priority (root): less waiting for a CPU on a shared "
        "machine",
    )
    args = parser.parse_args(argv)
    if args.transactions < 1 or args.days < 1 or args.period_days < 1 or args.repeat < 1:
        parser.error("--transactions, --days, --period-days and --repeat must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    url = args.database_url
    # The selectors read settings (hold days) and the demo helpers the shared engine: point both
    # at the bench database before anything caches them.
    os.environ["DATABASE_URL"] = url
    # The raw reference scans of 10M payments outlast the app's statement and idle-in-transaction
    # timeouts (it streams millions of rows into Python between its statements).
    for name in ("PAYBRIDGE_DB_STATEMENT_TIMEOUT_MS", "PAYBRIDGE_DB_IDLE_TX_TIMEOUT_MS"):
        os.environ.setdefault(name, "600000")
    from paybridge.engine import get_engine
    from paybridge.migrations import migrate
    from paybridge.selectors.analytics import merchant_currencies
    from paybridge.selectors.periods import period_last_days
    from paybridge.services.providers import providers_ensure_defaults
    from paybridge.settings import get_settings

    get_settings.cache_clear()
    get_engine.cache_clear()
    ensure_database(url)
    engine = get_engine()
    migrate(engine, "heads")  # parallel branches may exist before their merge
    providers_ensure_defaults()
    merchant_id = ensure_merchant(engine, args.transactions)

    tx_rows, rolled = merchant_rows(engine, merchant_id)
    if args.reuse and tx_rows == rolled == args.transactions:
        print(f"reusing merchant {merchant_id}: {tx_rows:,} payments already seeded")
    else:
        if tx_rows or rolled:
            clear_merchant(url, merchant_id)
        print(
            f"seeding merchant {merchant_id}: {args.transactions:,} payments over {args.days} days"
        )
        times = seed(url, merchant_id, args.transactions, args.days, args.seed, not args.copy_seed)
        print(
            f"seeded in {times.total:.1f} s: generate+COPY {times.generate_and_copy:.1f} s, "
            f"rollups INSERT..SELECT {times.rollups:.1f} s, VACUUM ANALYZE "
            f"{times.vacuum_analyze:.1f} s"
        )
        tx_rows, rolled = merchant_rows(engine, merchant_id)
        assert tx_rows == rolled == args.transactions, (tx_rows, rolled)

    with engine.connect() as conn:
        latest = conn.execute(
            sa.text("SELECT max(created_at) FROM transactions WHERE merchant_id = :m"),
            {"m": merchant_id},
        ).scalar_one()
        bucket_rows = conn.execute(
            sa.text("SELECT count(*) FROM hourly_rollups WHERE merchant_id = :m"),
            {"m": merchant_id},
        ).scalar_one()
    # "Now" is just after the newest payment, so a reused data set is measured the same way.
    now = latest + timedelta(seconds=1)
    period = period_last_days(args.period_days, MERCHANT_TZ, now=now)
    with Session(engine) as session:
        currency = merchant_currencies(session=session, merchant_id=merchant_id)[0]
    print(f"{bucket_rows:,} hourly rollup rows; dashboard currency {currency}")

    verify(engine, merchant_id, currency, period, now)

    common = dict(merchant_id=merchant_id, currency=currency, period=period, now=now)
    load_before = os.getloadavg()[0]
    rollup = run(
        engine, False, args.repeat, args.warmup, label="rollups", priority=args.priority, **common
    )
    raw = run(engine, True, args.raw_repeat, 1, label="raw", **common)
    load_after = os.getloadavg()[0]

    print()
    print(
        f"dashboard load: {args.transactions:,} payments over {args.days} days, "
        f"{args.period_days}-day period, {currency}; {os.cpu_count()} CPUs, load average "
        f"{load_before:.2f} -> {load_after:.2f}; rollup loads at priority "
        f"{args.priority or 'default'}; times in ms"
    )
    print(f"  {'':<34} {'p50':>11} {'p95':>11} {'max':>11}")
    for label, samples in (("rollups", rollup), ("raw", raw)):
        print(stats_row(f"{label}: load", samples.total))
        for name in ("numbers", "recent"):
            print(stats_row(f"  {name}", samples.parts[name]))
        server = "n/a" if samples.server_cpu is None else ms(samples.server_cpu)
        print(
            f"  {'':<4}CPU per load (mean): bench process "
            f"{ms(samples.client_cpu)}, PostgreSQL backend {server}"
        )
    p50_ratio = statistics.median(raw.total) / statistics.median(rollup.total)
    p95_ratio = percentile(raw.total, 95) / percentile(rollup.total, 95)
    rollup_p95_ms = percentile(rollup.total, 95) * 1000
    print(f"  raw / rollups: {p50_ratio:,.0f}x at p50, {p95_ratio:,.0f}x at p95")
    print(
        f"  targets: rollup load p95 <= 10 ms: {rollup_p95_ms:.2f} ms, "
        f"{'met' if rollup_p95_ms <= 10 else 'MISSED'}; raw/rollups >= 50x: "
        f"{'met' if p50_ratio >= 50 else 'MISSED'}"
    )

    if args.writes:
        if args.priority is not None:  # the services' pooled connection exists by now
            set_priority(url, args.priority)
        try:
            cost = write_cost(engine, args.writes, rounds=5)
        finally:
            if args.priority is not None:
                set_priority(url, None)
        print(
            f"write cost per payment (services.transactions, one client, {args.writes} payments "
            f"x 5 alternating rounds each, priority {args.priority or 'default'}); ms, median "
            "of rounds (the rounds):"
        )
        for variant in ("before", "after"):
            label = "hourly rollup only" if variant == "before" else "every grain, one statement"
            parts = []
            for kind in ("create", "update"):
                values = cost[f"{variant}_{kind}"]
                rounds = " ".join(ms(v) for v in values)
                parts.append(f"{kind} {ms(statistics.median(values))} ({rounds})")
            cpu = cost[variant + "_cpu"]
            if cpu:
                parts.append(f"PostgreSQL CPU per payment, both writes {ms(statistics.mean(cpu))}")
            print(f"  {variant} ({label}): " + "; ".join(parts))

    engine.dispose()
    if args.drop:
        drop_database(url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
