#!/usr/bin/env bash
# Run PayBridge with demo data and live traffic on the embedded default (SQLite, no Redis).
# Open http://localhost:${PAYBRIDGE_PORT:-3000} — UI and API are served on that one port.
#
# Beside the app: the worker (webhooks, payouts) and the demo merchant's own integration,
# which sends its payments through the public API with an API key made for the run and
# answers PayBridge's webhooks on a local receiver (port PORT+1), failing a few as real
# endpoints do. Their logs: .worker.log and .simulate.log.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

export REFLEX_USE_SYSTEM_BUN=1 REFLEX_TELEMETRY_ENABLED=false
# The embedded default is development even though Reflex serves its production build: the
# secret key is generated on first run and kept in .paybridge-secret (git-ignored).
export PAYBRIDGE_ENV=${PAYBRIDGE_ENV:-dev}
# The demo's webhook receiver is on this machine: the app may register it and the worker
# deliver to it (a local address, refused otherwise).
export PAYBRIDGE_WEBHOOKS_ALLOW_PRIVATE=${PAYBRIDGE_WEBHOOKS_ALLOW_PRIVATE:-1}
PORT=${PAYBRIDGE_PORT:-3000}
WEBHOOK_PORT=${PAYBRIDGE_DEMO_WEBHOOK_PORT:-$((PORT + 1))}
PY=.venv/bin/python

$PY -m paybridge migrate
$PY -m paybridge seed            # creates the demo merchant once; later runs keep its data
$PY -m paybridge simulate --rate "${PAYBRIDGE_SIMULATE_RATE:-0.5}" \
  --api "http://127.0.0.1:$PORT" --webhook-port "$WEBHOOK_PORT" >.simulate.log 2>&1 &
sim=$!
$PY -m paybridge worker >.worker.log 2>&1 &   # webhooks, payouts, scheduled payouts
worker=$!
trap 'kill $sim $worker 2>/dev/null || true' EXIT INT TERM

.venv/bin/reflex run --env prod --frontend-port "$PORT" --backend-port "$PORT"
