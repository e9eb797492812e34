"""`simulate`: live payment traffic for a merchant, through the services or the public API."""

from __future__ import annotations

import argparse
import random
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from paybridge.cli.accounts import DEMO_EMAIL, DEMO_PASSWORD, find_user
from paybridge.models import TransactionStatus
from paybridge.models.keys import key

if TYPE_CHECKING:
    from paybridge.demo_integration import DemoApi, WebhookReceiver


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
    user = find_user(args.email or DEMO_EMAIL)
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
        return _simulate_batched(args, merchant_id=key(user), rng=rng)
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
            transaction_update_status(merchant_id=key(user), reference=item[1], status=status)
            if refund and api is not None:
                _api_call(api.request, "POST", f"/transactions/{item[1]}/refund")

    def create(currency: str, amount: int, provider: str, customer: str) -> str | None:
        if api is None:
            return transaction_create(
                merchant_id=key(user),
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
