PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: up test check install bench clean chromium

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

test: $(TEST_STAMP) chromium
	$(BIN)/python -m pytest -q

# tests/integration/test_browser.py drives Debian's chromium through Playwright (never
# `playwright install`: no browser downloads). Install it when missing and apt-get is usable
# (root); otherwise that test skips locally (and fails when CI is set).
CHROMIUM := /usr/bin/chromium

chromium:
	@if [ ! -x $(CHROMIUM) ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q chromium >/dev/null 2>&1 || \
		{ apt-get update -q && apt-get install -y -q chromium; } || \
		echo "warning: could not install chromium; the browser test will not pass" >&2; \
	fi

check: $(TEST_STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/mypy

# The peers the benchmarks compare with (MiniStack, moto's server) live in their own
# venv: ministack pins an older botocore than ours, so installing it next to Cloudlet
# would downgrade boto3.  The bench finds `ministack` and `moto_server` on PATH.
PEERS := .venv-peers
PEERS_STAMP := $(PEERS)/.installed-ministack-moto

$(PEERS_STAMP):
	test -x $(PEERS)/bin/pip || $(PY) -m venv $(PEERS)
	$(PEERS)/bin/pip install -q ministack 'moto[server]'
	touch $@

bench: $(STAMP) $(PEERS_STAMP)
	PATH="$(CURDIR)/$(PEERS)/bin:$$PATH" $(BIN)/cloudlet bench --quick

clean:
	rm -rf $(VENV) $(PEERS) .cloudlet
