# The README's commands. A fresh machine needs only python3, pip, make and git:
# everything else is installed here, pinned by uv.lock.
PYTHON ?= python3
VENV := .venv
TOOLS := .tools
UV := $(TOOLS)/bin/uv
UV_VERSION := 0.13.8
STAMP := $(VENV)/.installed-stamp
BIN := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install demo serve test check bench bench-inbound bench-maestro bench-commerce bench-analytics clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/omnicx migrate
	$(BIN)/omnicx demo
	$(BIN)/omnicx serve

serve: install
	$(BIN)/omnicx serve

test: install
	$(BIN)/python -m pytest

check: install
	$(BIN)/ruff check src tests bench migrations
	$(BIN)/ruff format --check src tests bench migrations
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m omnicx.schema
	UV=$(UV) BIN=$(BIN) scripts/audit-deps

bench: install
	$(BIN)/python bench/ingest.py

bench-inbound: install
	$(BIN)/python bench/inbound.py

bench-commerce: install
	$(BIN)/python bench/commerce.py $(if $(DATABASE_URL),--database-url $(DATABASE_URL))

bench-maestro: install
	$(BIN)/python bench/maestro.py

bench-analytics: install
	$(BIN)/python bench/analytics.py $(if $(DATABASE_URL),--database-url $(DATABASE_URL))

clean:
	rm -rf $(VENV) $(TOOLS) var .pytest_cache .mypy_cache .ruff_cache
