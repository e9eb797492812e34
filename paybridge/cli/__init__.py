"""`python -m paybridge <command>`: migrate, seed, createuser, simulate, worker, serve."""

from __future__ import annotations

import argparse
import sys

from paybridge.cli.accounts import DEMO_EMAIL, DEMO_PASSWORD, cmd_createuser, cmd_migrate, cmd_seed
from paybridge.cli.simulate import BATCHED_ABOVE, cmd_simulate
from paybridge.errors import DomainError
from paybridge.models import KycStatus

__all__ = ["DEMO_EMAIL", "DEMO_PASSWORD", "build_parser", "main"]


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
