# The two commands a user needs: `make book` and `make test`. Everything else is a helper.
# The virtual environment is created on first use, so both work on a fresh clone.
PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-stamp
# auto: per chapter the strongest committed results (paper, then full; drawn without training or data), else the
# quick profile computed live. PROFILE=quick recomputes every chapter live; smoke, full, paper as named.
PROFILE ?= auto
NB      ?=
PARAMS  ?=

.PHONY: help setup system-deps data test lint book figure clean-book lab serve check-site bench

help:
	@echo "make book     set up, execute every figure notebook (PROFILE=$(PROFILE)), build _build/html"
	@echo "make test     set up, run the test suite"
	@echo "make figure NB=<name> PARAMS='-p alpha 0.5'   re-run one figure notebook (also papermill's -y YAML, -f FILE)"
	@echo "make bench    benchmarks side by side (ratios), writes book/performance.md"
	@echo "make lab      open notebooks/*.py as notebooks in JupyterLab (save, then make book)"
	@echo "make serve    serve _build/html on http://127.0.0.1:8000/"
	@echo "make check-site   open every page of _build/html in headless Chromium (needs make book first)"
	@echo "make system-deps   (root) install Debian packages: Fashion-MNIST data, Chromium for the browser test"
	@echo "make data     Fashion-MNIST if missing (Debian package, as root), else say what to run (test and book do this)"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[book,dev]'
	@touch $(STAMP)

setup: $(STAMP)

system-deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist chromium

# Fashion-MNIST, which the smoke book of make test and every chapter of make book use: when it is missing, install
# Debian's dataset-fashion-mnist where we can (root with apt-get, as make system-deps does), else say in one line
# what to run. Never fails: without the data, the notebooks fall back or stop with a one-line message.
APT_GET ?= apt-get
FASHION_MNIST_HINT := sudo make system-deps (Debian/Ubuntu), or on a machine with internet: \
	$(BIN)/python -m mixup_lib download fashion_mnist
data: $(STAMP)
	@if $(BIN)/python tools/execute_notebooks.py --data-state fashion_mnist >/dev/null; then :; \
	elif command -v $(APT_GET) >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "data: Fashion-MNIST is missing: installing Debian's dataset-fashion-mnist"; \
		$(APT_GET) update -qq >/dev/null 2>&1; \
		DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq dataset-fashion-mnist >/dev/null 2>&1 \
			|| echo "data: could not install dataset-fashion-mnist: run $(FASHION_MNIST_HINT)"; \
	else echo "data: Fashion-MNIST is missing (it is downloaded if this machine has internet); else run $(FASHION_MNIST_HINT)"; \
	fi

test: $(STAMP) data
	$(BIN)/python -m pytest -n auto --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .

# 1) papermill executes each notebooks/<name>.py into book/generated/ (skipped when unchanged), saying first what
#    each chapter will cost at $(PROFILE) and then its training progress (MIXUP_PROGRESS=0: none),
# 2) Jupyter Book builds the site with execution off; any Sphinx warning fails the build.
# The data is set up (make data) only when some chapter will compute on it: drawing committed results needs none.
NEEDS_DATA = $(BIN)/python tools/execute_notebooks.py --needs-data
book: $(STAMP)
	@if $(NEEDS_DATA) --profile $(PROFILE); then $(MAKE) --no-print-directory data; fi
	$(BIN)/python tools/execute_notebooks.py --profile $(PROFILE)
	$(BIN)/jupyter-book build . --warningiserror --keep-going --quiet
	@echo "book: open _build/html/index.html"

# Rerun one figure (always executed), then rebuild the site. PARAMS takes papermill's -p NAME VALUE, -y YAML,
# -f FILE and -r NAME VALUE (see README, "Profiles, and rerunning one figure").
figure: $(STAMP)
	@test -n "$(NB)" || { echo "usage: make figure NB=<notebook name> PARAMS='-p alpha 0.5'"; exit 2; }
	@if $(NEEDS_DATA) --profile $(PROFILE) --only $(NB) $(PARAMS); then $(MAKE) --no-print-directory data; fi
	$(BIN)/python tools/execute_notebooks.py --profile $(PROFILE) --only $(NB) --force $(PARAMS)
	@missing="$$(for f in notebooks/*.py; do n=$$(basename $$f .py); test -f book/generated/$$n.ipynb || printf ' %s' $$n; done)"; \
	if [ -n "$$missing" ]; then echo "figure: book/generated/$(NB).ipynb is written; the site is not rebuilt until every chapter has been executed once (missing:$$missing): run make book"; \
	else $(BIN)/jupyter-book build . --warningiserror --keep-going --quiet; fi

clean-book:
	rm -rf _build/html _build/.doctrees book/generated

# JupyterLab on the repository: notebooks/*.py open as notebooks (jupytext, see [tool.jupytext] in
# pyproject.toml and tools/jupyter/labconfig/); a save writes the percent script back, and make book reruns it.
lab: $(STAMP)
	JUPYTER_CONFIG_PATH=$(CURDIR)/tools/jupyter $(BIN)/jupyter lab --ServerApp.root_dir=$(CURDIR) \
		--LabApp.default_url=/lab/tree/notebooks $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

serve: $(STAMP)
	$(BIN)/python tools/serve_book.py

# The browser test on the site that make book built (make test builds its own smoke-profile copy).
check-site: $(STAMP)
	MIXUP_BOOK_HTML=_build/html $(BIN)/python -m pytest tests/test_browser.py

# Benchmarks measured side by side in one run; writes benchmarks/results/latest.json and book/performance.md.
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)
