PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: up test check install bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	touch $@

$(TEST_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(STAMP)

install: $(STAMP)

up: $(STAMP)
	$(BIN)/cloudlet up

test: $(TEST_STAMP)
	$(BIN)/python -m pytest -q

check: $(TEST_STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/mypy

# The peers the benchmarks compare with live in their own venv: ministack pins an
# older botocore than ours, so installing it next to Cloudlet would downgrade boto3.
PEERS := .venv-peers

$(PEERS)/bin/ministack:
	$(PY) -m venv $(PEERS)
	$(PEERS)/bin/pip install -q ministack

bench: $(STAMP) $(PEERS)/bin/ministack
	PATH="$(CURDIR)/$(PEERS)/bin:$$PATH" $(BIN)/cloudlet bench --quick

clean:
	rm -rf $(VENV) $(PEERS) .cloudlet
