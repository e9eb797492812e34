"""`python -m paybridge <command>`: migrate, seed, createuser, simulate, worker, serve."""

from __future__ import annotations

import argparse
import random
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlmodel import select
from tqdm import tqdm

from paybridge.db import get_engine, read_session
from paybridge.errors import DomainError
from paybridge.migrations import migrate
from paybridge.models import (
    KycStatus,
    PayoutSchedule,
    SettlementStatus,
    Transaction,
    TransactionStatus,
    User,
)

if TYPE_CHECKING:
    from paybridge.demo_integration import DemoApi, WebhookReceiver

DEMO_EMAIL = "demo@paybridge.dev"
DEMO_PASSWORD = "paybridge-demo-2026"


def cmd_migrate(_args: argparse.Namespace) -> int:
    migrate(get_engine())
    print("database is at the latest migration")
    return 0


def _find_user(email: str) -> User | None:
    from paybridge.selectors.users import user_by_email
    from paybridge.validation import clean_email

    with read_session() as session:
        return user_by_email(session=session, email=clean_email(email))


def _ensure_merchant(
    *, email: str, password: str, company: str, full_name: str, kyc: str, bank: bool
) -> tuple[User, bool]:
    from paybridge.services.users import (
        user_create,
        user_set_kyc_status,
        user_update_payout_settings,
    )

    user = _find_user(email)
    created = user is None
    if user is None:
        user = user_create(
            email=email,
            password=password,
            full_name=full_name,
            company_name=company,
            kyc_status=kyc,
            timezone="Africa/Lagos",
        )
    elif user.kyc_status != kyc:
        user = user_set_kyc_status(user_id=user.id, kyc_status=kyc)
    if bank and not user.bank_account_masked:
        user = user_update_payout_settings(
            user_id=user.id,
            schedule=PayoutSchedule.WEEKLY.value,
            weekday=4,
            bank_name="Demo Bank",
            bank_account_number="0123456789",
        )
    return user, created


def cmd_createuser(args: argparse.Namespace) -> int:
    if _find_user(args.email) is not None:
        print(f"error: an account with {args.email} exists", file=sys.stderr)
        return 2
    user, _ = _ensure_merchant(
        email=args.email,
        password=args.password,
        company=args.company,
        full_name=args.full_name or args.company or args.email.split("@")[0],
        kyc=args.kyc,
        bank=True,
    )
    print(f"created merchant #{user.id} {user.email} (KYC {user.kyc_status})")
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from paybridge.services.demo import seed_history, seed_payout_history
    from paybridge.services.providers import providers_ensure_defaults

    migrate(get_engine())
    providers_ensure_defaults()
    email = args.email or DEMO_EMAIL
    password = args.password or DEMO_PASSWORD
    user, created = _ensure_merchant(
        email=email,
        password=password,
        company=args.company,
        full_name="Demo Merchant" if email == DEMO_EMAIL else args.company,
        kyc=KycStatus.VERIFIED.value,
        bank=True,
    )
    with read_session() as session:
        has_history = (
            session.exec(select(Transaction.id).where(Transaction.merchant_id == user.id)).first()
            is not None
        )
    if has_history and not args.force:
        print(f"{email} already has payments; pass --force to add {args.transactions:,} more")
    else:
        with tqdm(total=args.transactions, unit="tx", desc="seeding payments") as bar:
            seed_history(
                merchant_id=user.id,
                days=args.days,
                transactions=args.transactions,
                progress=bar.update,
            )
        payouts = seed_payout_history(merchant_id=user.id)
        failed = sum(p.status == SettlementStatus.FAILED for p in payouts)
        print(f"seeded {len(payouts)} past scheduled payouts ({failed} failed at the bank)")
    print(f"log in as {email}" + (f" / {password}" if created or email == DEMO_EMAIL else ""))
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """Live traffic: new payments, settled a few seconds later by their provider.

    With --api the payments come in the way a merchant's backend sends them: through the public
    API at that URL with an API key made for the run, with the odd refund and read; with
    --webhook-port the same run answers PayBridge's webhooks (demo_integration.py). Without
    --api the payments are written through the services directly."""
    from paybridge.services.demo import final_status, random_customer, random_payment_shape
    from paybridge.services.providers import providers_ensure_defaults
    from paybridge.services.transactions import transaction_create, transaction_update_status

    if args.webhook_port and not args.api:
        print("error: --webhook-port needs --api", file=sys.stderr)
        return 2
    user = _find_user(args.email or DEMO_EMAIL)
    if user is None:
        print("error: no such merchant; run `python -m paybridge seed` first", file=sys.stderr)
        return 2
    password = args.password or (DEMO_PASSWORD if user.email == DEMO_EMAIL else None)
    if args.api and password is None:
        print("error: --api needs the merchant's --password", file=sys.stderr)
        return 2
    try:
        integration = _demo_integration(args, user.email, password or "") if args.api else None
    except Exception as error:  # no API, refused login, port taken: say so, no traceback
        print(f"error: the demo integration could not start: {error}", file=sys.stderr)
        return 2
    api = integration[0] if integration else None
    if api is None:  # a merchant made with `createuser` on a fresh database has no routes yet
        providers_ensure_defaults()
    signal.signal(signal.SIGTERM, _interrupt)  # make run's trap: settle what is open, then stop
    rng = random.Random()
    if api is None and args.rate > BATCHED_ABOVE:
        return _simulate_batched(args, merchant_id=user.id, rng=rng)
    open_payments: list[tuple[datetime, str, str]] = []
    deadline = time.monotonic() + args.duration if args.duration else None
    made = 0
    via = f"the API at {args.api}" if api else "the services"
    print(f"simulating {args.rate}/s payments for {user.email} through {via} (Ctrl-C to stop)")

    def settle(due_by: datetime) -> None:
        for item in [p for p in open_payments if p[0] <= due_by]:
            open_payments.remove(item)
            status = final_status(rng, item[2])
            refund = status == TransactionStatus.REFUNDED
            if refund:
                status = TransactionStatus.SUCCESS.value
            transaction_update_status(merchant_id=user.id, reference=item[1], status=status)
            if refund and api is not None:
                _api_call(api.request, "POST", f"/transactions/{item[1]}/refund")

    def create(currency: str, amount: int, provider: str, customer: str) -> str | None:
        if api is None:
            return transaction_create(
                merchant_id=user.id,
                amount=amount,
                currency=currency,
                provider=provider,
                customer_email=customer,
            ).reference
        body = {
            "amount": amount,
            "currency": currency,
            "provider": provider,
            "customer_email": customer,
        }
        created = _api_call(api.request, "POST", "/transactions", json_body=body)
        return created["id"] if created else None

    try:
        while deadline is None or time.monotonic() < deadline:
            currency, amount, provider = random_payment_shape(rng)
            reference = create(currency, amount, provider, random_customer(rng))
            if reference is not None:
                made += 1
                settle_at = datetime.now(UTC) + timedelta(seconds=rng.uniform(1, 8))
                open_payments.append((settle_at, reference, provider))
            if api is not None and made % 10 == 5:  # the merchant's app reads now and then
                _api_call(api.request, "GET", "/transactions?limit=10")
                _api_call(api.request, "GET", "/balance")
            settle(datetime.now(UTC))
            if args.count and made >= args.count:
                break
            time.sleep(rng.expovariate(args.rate))
    except KeyboardInterrupt:
        pass
    finally:
        settle(datetime.max.replace(tzinfo=UTC))  # leave no payment pending forever
        if integration and integration[1] is not None:
            integration[1].stop()
    print(f"simulated {made} payments")
    return 0


BATCHED_ABOVE = 20.0  # payments/s beyond which one write per payment cannot keep up
TICK_SECONDS = 0.05
MAX_BATCH = 200


def _simulate_batched(args: argparse.Namespace, *, merchant_id: int, rng: random.Random) -> int:
    """Fast traffic: every tick, the payments owed at `--rate` so far are written together
    with their final status (success or failed), in one transaction as the API's group commit
    writes them — one process then keeps up with well over 1,000 payments/s, where one
    transaction per payment and a later status change manage ~150/s. Prints the rate reached."""
    from paybridge.services.demo import final_status, random_customer, random_payment_shape
    from paybridge.services.transactions import new_payment, transactions_record

    print(f"simulating {args.rate:g}/s payments in batches through the services (Ctrl-C to stop)")
    made, behind_told = 0, False
    started = time.monotonic()
    try:
        while True:
            elapsed = time.monotonic() - started
            if args.duration and elapsed >= args.duration:
                break
            owed = int(args.rate * elapsed) - made
            if args.count:
                owed = min(owed, args.count - made)
            if owed <= 0:
                if args.count and made >= args.count:
                    break
                time.sleep(TICK_SECONDS)
                continue
            if owed > MAX_BATCH and not behind_told:
                print(f"falling behind {args.rate:g}/s: this process or the database is the limit")
                behind_told = True
            batch = []
            for _ in range(min(owed, MAX_BATCH)):
                currency, amount, provider = random_payment_shape(rng)
                status = final_status(rng, provider)
                batch.append(
                    new_payment(
                        merchant_id=merchant_id,
                        amount=amount,
                        currency=currency,
                        provider=provider,
                        customer_email=random_customer(rng),
                        status="failed" if status == "failed" else "success",
                    )
                )
            made += sum(
                1 for result in transactions_record(batch) if not isinstance(result, Exception)
            )
    except KeyboardInterrupt:
        pass
    seconds = time.monotonic() - started
    print(f"simulated {made} payments in {seconds:.1f} s ({made / max(seconds, 1e-9):.0f}/s)")
    return 0


def _interrupt(_signum: int, _frame: object) -> None:
    """SIGTERM as Ctrl-C, once: make run signals the process group and then its trap signals
    the simulator again, which must not cut short the settling of its last payments."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def _demo_integration(
    args: argparse.Namespace, email: str, password: str
) -> tuple[DemoApi, WebhookReceiver | None]:
    """The API client with this run's key and, with --webhook-port, a registered receiver."""
    from paybridge.demo_integration import DemoApi, WebhookReceiver

    api = DemoApi(args.api)
    print(f"waiting for the API at {args.api} ...", flush=True)
    api.wait_until_up(args.wait)
    api.set_up_key(email, password)
    receiver = None
    if args.webhook_port:
        receiver = WebhookReceiver(args.webhook_port).start()
        receiver.secret = api.register_webhook(receiver.url)
        print(f"webhooks go to {receiver.url} (about 8 % answered 503, then retried)")
    return api, receiver


def _api_call(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """One API call of the simulated integration: a refusal or an app that is restarting is
    logged, and the traffic goes on."""
    import httpx

    from paybridge.demo_integration import ApiUnavailable

    try:
        return call(*args, **kwargs)
    except (ApiUnavailable, httpx.HTTPStatusError) as error:
        print(f"warning: {error}", file=sys.stderr, flush=True)
        time.sleep(1)
        return None


def cmd_worker(args: argparse.Namespace) -> int:
    """Webhook delivery, payout processing and scheduled payouts until SIGTERM / Ctrl-C."""
    from paybridge.logs import configure_logging
    from paybridge.worker import WorkerConfig, run_worker

    if args.concurrency < 1 or args.poll_interval <= 0:
        print(
            "error: --concurrency must be at least 1 and --poll-interval positive", file=sys.stderr
        )
        return 2
    configure_logging(args.log_level)  # text, or JSON lines with PAYBRIDGE_LOG_FORMAT=json
    return run_worker(
        WorkerConfig(
            concurrency=args.concurrency,
            poll_interval=args.poll_interval,
            payouts=not args.no_payouts,
        )
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m paybridge", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("migrate", help="apply database migrations (idempotent)").set_defaults(
        func=cmd_migrate
    )

    seed = commands.add_parser("seed", help="providers, a demo merchant and months of payments")
    seed.add_argument("--email", help=f"merchant to seed (default {DEMO_EMAIL})")
    seed.add_argument("--password", help="password if the merchant is created")
    seed.add_argument("--company", default="Demo Store Ltd")
    seed.add_argument("--days", type=int, default=90)
    seed.add_argument("--transactions", type=int, default=50_000)
    seed.add_argument("--force", action="store_true", help="add history even if some exists")
    seed.set_defaults(func=cmd_seed)

    create = commands.add_parser("createuser", help="create a merchant account")
    create.add_argument("--email", required=True)
    create.add_argument("--password", required=True)
    create.add_argument("--company", default="")
    create.add_argument("--full-name", default="")
    create.add_argument(
        "--kyc", default=KycStatus.PENDING.value, choices=[k.value for k in KycStatus]
    )
    create.set_defaults(func=cmd_createuser)

    simulate = commands.add_parser("simulate", help="live payment traffic through the services")
    simulate.add_argument("--email", help=f"merchant (default {DEMO_EMAIL})")
    simulate.add_argument(
        "--rate",
        type=float,
        default=1.0,
        help=f"payments per second (above {BATCHED_ABOVE:g}: written in batches, already final)",
    )
    simulate.add_argument("--duration", type=float, default=0, help="seconds (0: until Ctrl-C)")
    simulate.add_argument("--count", type=int, default=0, help="stop after N payments")
    simulate.add_argument("--password", help="the merchant's password (for --api)")
    simulate.add_argument(
        "--api", help="base URL of the app: send the payments through its public API"
    )
    simulate.add_argument(
        "--webhook-port", type=int, default=0, help="answer webhooks on this local port (--api)"
    )
    simulate.add_argument(
        "--wait", type=float, default=900, help="seconds to wait for the API to answer"
    )
    simulate.set_defaults(func=cmd_simulate)

    commands.add_parser(
        "serve",
        help="reflex run --env prod, replacing Granian workers that die; "
        "options after `serve` go to `reflex run`",
    )
    worker = commands.add_parser("worker", help="deliver webhooks, process and schedule payouts")
    worker.add_argument("--concurrency", type=int, default=8, help="HTTP requests in flight")
    worker.add_argument("--poll-interval", type=float, default=0.2, help="seconds between polls")
    worker.add_argument("--no-payouts", action="store_true", help="deliver webhooks only")
    worker.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    worker.set_defaults(func=cmd_worker)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:  # every later option belongs to `reflex run`
        from paybridge.serve import serve

        return serve(argv[1:])
    args = build_parser().parse_args(argv)
    if getattr(args, "days", 1) <= 0 or getattr(args, "transactions", 1) < 0:
        print("error: --days must be positive and --transactions not negative", file=sys.stderr)
        return 2
    if getattr(args, "rate", 1) <= 0:
        print("error: --rate must be positive", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except DomainError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 2
