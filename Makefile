.PHONY: setup run test lint bench

setup:            ## virtualenv, packages, bun
	scripts/setup.sh

run:              ## the app with demo data and live traffic on SQLite, at http://localhost:3000
	scripts/run.sh

test:             ## the whole suite against PostgreSQL, Redis and SQLite
	scripts/test.sh

lint:             ## ruff, and the import layers (pyproject.toml [tool.importlinter])
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/lint-imports --no-cache

bench:            ## dashboard numbers from rollups vs raw scans, on PostgreSQL
	.venv/bin/python bench/dashboard.py
