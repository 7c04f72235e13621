# The two commands a user needs: `make book` and `make test`. Everything else is a helper.
# The virtual environment is created on first use, so both work on a fresh clone.
PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-stamp
PROFILE ?= quick
NB      ?=
PARAMS  ?=

.PHONY: help setup system-deps test lint book figure clean-book

help:
	@echo "make book     set up, execute every figure notebook (PROFILE=$(PROFILE)), build _build/html"
	@echo "make test     set up, run the test suite"
	@echo "make figure NB=<name> PARAMS='-p alpha 0.5'   re-run one figure notebook"
	@echo "make system-deps   (root) install Debian packages: Fashion-MNIST data"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[book,dev]'
	@touch $(STAMP)

setup: $(STAMP)

system-deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

# 1) papermill executes each notebooks/<name>.py into book/generated/ (skipped when unchanged),
# 2) Jupyter Book builds the site with execution off; any Sphinx warning fails the build.
book: $(STAMP)
	$(BIN)/python tools/execute_notebooks.py --profile $(PROFILE)
	$(BIN)/jupyter-book build . --warningiserror --keep-going --quiet
	@echo "book: open _build/html/index.html"

# Rerun one figure (always executed), then rebuild the site.
figure: $(STAMP)
	@test -n "$(NB)" || { echo "usage: make figure NB=<notebook name> PARAMS='-p alpha 0.5'"; exit 2; }
	$(BIN)/python tools/execute_notebooks.py --profile $(PROFILE) --only $(NB) --force $(PARAMS)
	$(BIN)/jupyter-book build . --warningiserror --keep-going --quiet

clean-book:
	rm -rf _build/html _build/.doctrees book/generated
