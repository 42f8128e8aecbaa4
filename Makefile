# Tocsin: `make run` serves it, `make test` checks it. Both build .venv from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: run test test-tools lint typecheck bench fuzz clean constraints

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/tocsin db upgrade
	$(BIN)/tocsin serve --host $(HOST) --port $(PORT) --bootstrap-admin

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# Real peers the end-to-end tests talk to: Prometheus Alertmanager and Chromium (Debian).
test-tools:
	./scripts/ensure-test-tools

test: lint typecheck test-tools
	$(BIN)/pytest -n 2 --dist loadfile --durations=20

bench: $(STAMP)
	$(BIN)/python -m bench

# Schemathesis over every operation with many more examples than `make test` uses.
fuzz: $(STAMP)
	TOCSIN_FUZZ_EXAMPLES=$${EXAMPLES:-150} $(BIN)/pytest tests/api/test_openapi_fuzz.py -q -s

# Refresh the pinned set after changing pyproject.toml (run on a clean venv).
constraints: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^tocsin' > constraints.txt

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
