#!/usr/bin/env bash
# Create the virtualenv, install PayBridge with its dev tools, and make bun available for Reflex.
# Safe to run again: it only installs what is missing or changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.paybridge-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "==> installing Python packages"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[dev]"
  touch "$stamp"
fi
# The test suite drives Debian's Chromium, puts two app instances behind Debian's nginx and
# runs one through Debian's pgbouncer.
missing=""
[ "${PAYBRIDGE_SETUP_BROWSER:-0}" = 1 ] && [ ! -x /usr/bin/chromium ] && missing="$missing chromium"
[ "${PAYBRIDGE_SETUP_BROWSER:-0}" = 1 ] && ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ] && missing="$missing nginx"
[ "${PAYBRIDGE_SETUP_BROWSER:-0}" = 1 ] && [ ! -x /usr/sbin/pgbouncer ] && missing="$missing pgbouncer"
if [ -n "$missing" ]; then
  echo "==> installing Debian packages:$missing"
  sudo_=""; [ "$(id -u)" = 0 ] || sudo_=sudo
  $sudo_ apt-get install -y -qq $missing >/dev/null || { $sudo_ apt-get update -qq && $sudo_ apt-get install -y -qq $missing >/dev/null; }
fi
if ! command -v bun >/dev/null 2>&1; then
  echo "==> installing bun from npm (Reflex builds its frontend with it)"
  npm install --global bun >/dev/null
fi
