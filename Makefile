.PHONY: setup run dev test lint bench

setup:            ## virtualenv, packages, bun
	scripts/setup.sh

run:              ## the app with demo data and live traffic on SQLite, at http://localhost:3000
	scripts/run.sh

dev:              ## the same in Reflex's development mode: a saved page or state shows in the tab
	scripts/run.sh --dev

test:             ## the whole suite against PostgreSQL, Redis and SQLite
	scripts/test.sh

lint:             ## ruff, mypy and the import layers: what pre-commit runs (.pre-commit-config.yaml)
	.venv/bin/pre-commit run --all-files

bench:            ## dashboard numbers from rollups vs raw scans, on PostgreSQL
	.venv/bin/python bench/dashboard.py
