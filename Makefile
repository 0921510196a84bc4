.PHONY: install check lint format typecheck test bench screenshots

install:
	./scripts/install.sh

check: lint typecheck test

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports

format:
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

typecheck:
	.venv/bin/mypy

test:
	.venv/bin/python -m pytest

bench:
	.venv/bin/python -m bench

screenshots:
	.venv/bin/python scripts/screenshots.py
