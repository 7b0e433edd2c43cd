# The two commands: `make run` (gateway + every mock agency on SQLite) and `make test` (the whole suite).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test chaos bench lint typecheck openapi clean

$(STAMP): pyproject.toml examples/mpp-imigrasi/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m pip install --quiet -e examples/mpp-imigrasi
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/mpp-gateway demo

LINTED := contracts adapters gateway mocks tests examples bench

test: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/mypy
	$(BIN)/mypy examples/mpp-imigrasi/mpp_imigrasi
	$(BIN)/python -m pytest

chaos: $(STAMP)
	$(BIN)/python -m tests.chaos.runner --duration 120 --rate 10 --kills 2 --outage 15

# The benchmark (README, "Benchmark"): installs wrk and nginx from Debian's packages if missing, runs on 127.0.0.1.
bench: $(STAMP)
	$(BIN)/python -m bench.run

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)

typecheck: $(STAMP)
	$(BIN)/mypy

openapi: $(STAMP)
	$(BIN)/mpp-gateway openapi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache var
