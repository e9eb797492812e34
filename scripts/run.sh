#!/usr/bin/env bash
# Run PayBridge with demo data and live traffic on the embedded default (SQLite, no Redis).
#
#   scripts/run.sh        (make run)  the production build: UI and API on one port,
#                                     http://localhost:${PAYBRIDGE_PORT:-3000}
#   scripts/run.sh --dev  (make dev)  Reflex's development mode, for working on screens: the UI
#                                     on PAYBRIDGE_PORT with hot reload, the backend (and the
#                                     API) on PAYBRIDGE_BACKEND_PORT (8000); a saved page or
#                                     state shows in the open tab, which stays logged in
#
# Beside the app: the worker (webhooks, payouts) and the demo merchant's own integration,
# which sends its payments through the public API with an API key made for the run and
# answers PayBridge's webhooks on a local receiver (port PORT+1), failing a few as real
# endpoints do. Everything they and the app write (the database, data/worker.log,
# data/simulate.log) is in data/, which development mode's hot reload does not watch.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=prod
case "${1:-}" in
  "") ;;
  --dev) mode=dev ;;
  *) echo "usage: $0 [--dev]" >&2; exit 2 ;;
esac
scripts/setup.sh

export REFLEX_USE_SYSTEM_BUN=1 REFLEX_TELEMETRY_ENABLED=false
# The embedded default is development even though `make run` serves Reflex's production build:
# the secret key is generated on first run and kept in .paybridge-secret (git-ignored).
export PAYBRIDGE_ENV=${PAYBRIDGE_ENV:-dev}
# The demo's webhook receiver is on this machine: the app may register it and the worker
# deliver to it (a local address, refused otherwise).
export PAYBRIDGE_WEBHOOKS_ALLOW_PRIVATE=${PAYBRIDGE_WEBHOOKS_ALLOW_PRIVATE:-1}
PORT=${PAYBRIDGE_PORT:-3000}
WEBHOOK_PORT=${PAYBRIDGE_DEMO_WEBHOOK_PORT:-$((PORT + 1))}
if [ "$mode" = dev ]; then
  API_PORT=${PAYBRIDGE_BACKEND_PORT:-8000}
else
  API_PORT=$PORT
fi
PY=.venv/bin/python
mkdir -p data

$PY -m paybridge migrate
$PY -m paybridge seed            # creates the demo merchant once; later runs keep its data
$PY -m paybridge simulate --rate "${PAYBRIDGE_SIMULATE_RATE:-0.5}" \
  --api "http://127.0.0.1:$API_PORT" --webhook-port "$WEBHOOK_PORT" >data/simulate.log 2>&1 &
sim=$!
$PY -m paybridge worker >data/worker.log 2>&1 &   # webhooks, payouts, scheduled payouts
worker=$!
trap 'kill $sim $worker 2>/dev/null || true' EXIT INT TERM

if [ "$mode" = dev ]; then
  cat <<EOF
==> development mode: http://localhost:$PORT (API on http://localhost:$API_PORT/api/v1)
    log in as demo@paybridge.dev / paybridge-demo-2026
    a saved file under paybridge/ reloads the backend and the open tab; logs in data/
EOF
  .venv/bin/reflex run --frontend-port "$PORT" --backend-port "$API_PORT" \
    --loglevel "${PAYBRIDGE_DEV_LOGLEVEL:-info}"
else
  .venv/bin/reflex run --env prod --frontend-port "$PORT" --backend-port "$PORT"
fi
