# make setup  - install everything (apt packages if missing, .venv, Kafka jars)
# make test   - format check, lint, type check, then the whole test suite
# make lock   - refresh requirements.lock after changing pyproject.toml (setup installs it)
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup test lint typecheck pytest unit fmt lock

setup:
	./scripts/setup.sh

test: lint typecheck pytest

lint:
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck:
	$(BIN)/mypy

pytest:
	$(BIN)/pytest -q -n 2 --dist loadfile --durations=15

unit:
	$(BIN)/pytest -q tests/unit

fmt:
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lock:
	./scripts/lock.sh
