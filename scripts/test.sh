#!/usr/bin/env bash
# Run the whole test suite against real PostgreSQL and Redis (and SQLite).
# PAYBRIDGE_TEST_POSTGRES_URL / PAYBRIDGE_TEST_REDIS_URL point elsewhere if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
PAYBRIDGE_SETUP_BROWSER=1 scripts/setup.sh

export PAYBRIDGE_TEST_POSTGRES_URL=${PAYBRIDGE_TEST_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}
export PAYBRIDGE_TEST_REDIS_URL=${PAYBRIDGE_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}
export REFLEX_USE_SYSTEM_BUN=1 REFLEX_TELEMETRY_ENABLED=false

echo "==> lint: ruff, mypy, import layers (.pre-commit-config.yaml)"
.venv/bin/pre-commit run --all-files --show-diff-on-failure

echo "==> pytest"
set +e
.venv/bin/pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "error: pytest collected no tests — the suite is missing, refusing to pass" >&2
  exit 1
fi
exit "$status"
