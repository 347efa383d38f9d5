# Two commands on a fresh machine: `make run` serves the twin, `make test` proves it.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
PORT ?= 5006
TEST_WORKERS ?= 2
export OMP_NUM_THREADS ?= 1
export OPENBLAS_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

.PHONY: run test install install-test chromium lint city data serve clean

$(VENV)/.base: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.test: $(VENV)/.base
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.base
install-test: $(VENV)/.test

## make run: install, build the sample city's data on first start, make a local dashboard
## login if there is none (printed once), serve the dashboard behind it
run: install
	$(BIN)/twin data build --if-missing
	@[ -f "$${TWIN_DATA_DIR:-data/generated}/maintenance/work_orders.csv" ] || $(BIN)/twin maintenance history
	$(BIN)/twin users local
	$(BIN)/twin serve --port $(PORT)

## make test: install with test extras and Chromium, lint, run the whole suite on
## TEST_WORKERS processes (a test file stays on one; TEST_WORKERS=0 runs it in this one)
test: install-test chromium
	$(BIN)/ruff check .
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

chromium:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	else echo "Chromium is missing: install Debian's chromium (sudo apt-get install chromium)"; exit 1; fi

lint: install-test
	$(BIN)/ruff check .

city: install
	$(BIN)/twin city build

data: install
	$(BIN)/twin data build

clean:
	rm -rf $(VENV) data/generated .pytest_cache test-artifacts
