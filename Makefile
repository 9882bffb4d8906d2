# sessionward: `make run` serves the embedded default; `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint unit bench simulate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/sessionward serve

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy --strict src

test: lint
	$(BIN)/pytest -q

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

bench: $(STAMP)
	$(BIN)/python -m bench

# 10,000 simulated sessions of realistic clients over the model store, then 200 over the real services and SQLite:
# sessions ended early, outlived, false reuse alarms.
simulate: $(STAMP)
	$(BIN)/python -m sessionward.simulate --sessions 10000
	$(BIN)/python -m sessionward.simulate --sessions 200 --absolute-timeout 1h --store sqlite

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
