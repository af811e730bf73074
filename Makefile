# drf-toctou — `make test` works on a fresh machine with only Python 3.10+.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: test test-fast venv redis-server reliability clean

test: $(STAMP) redis-server
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

venv: $(STAMP)

# Re-install only when the package metadata changes.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { echo "Python 3.10+ is needed ($(PYTHON))."; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[redis,dynamodb,test]'
	touch $(STAMP)

redis-server:
	@sh scripts/ensure-redis-server.sh

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
