#!/usr/bin/env bash
# Run PayBridge with demo data and live traffic on the embedded default (SQLite, no Redis).
# Open http://localhost:${PAYBRIDGE_PORT:-3000} — UI and API are served on that one port.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

export REFLEX_USE_SYSTEM_BUN=1 REFLEX_TELEMETRY_ENABLED=false
# The embedded default is development even though Reflex serves its production build: the
# secret key is generated on first run and kept in .paybridge-secret (git-ignored).
export PAYBRIDGE_ENV=${PAYBRIDGE_ENV:-dev}
PORT=${PAYBRIDGE_PORT:-3000}
PY=.venv/bin/python

$PY -m paybridge migrate
$PY -m paybridge seed            # creates the demo merchant once; later runs keep its data
$PY -m paybridge simulate --rate "${PAYBRIDGE_SIMULATE_RATE:-0.5}" >/dev/null &
sim=$!
$PY -m paybridge worker >.worker.log 2>&1 &   # webhooks, payouts, scheduled payouts
worker=$!
trap 'kill $sim $worker 2>/dev/null || true' EXIT INT TERM

.venv/bin/reflex run --env prod --frontend-port "$PORT" --backend-port "$PORT"
