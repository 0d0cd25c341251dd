# paperpress: `make demo` builds the embedded archive offline (37 posts, the trends page) and renders the site;
# `make test` runs the whole test suite; `make lab` opens the post template in JupyterLab.
# Each creates .venv/ when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install system-deps demo lab test bench clean

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

install: $(STAMP) system-deps

# Optional system packages (a CJK font for chart labels; a browser for the browser tests):
# installed with apt-get where it is available, otherwise the script says what is missing.
system-deps:
	@bash scripts/system-deps.sh

# Every listed day of the embedded archive as an offline backfill, the trends page, the site; it says how long.
demo: install
	$(BIN)/paperpress demo

# The optional `edit` extra (JupyterLab) in a venv of its own: JupyterLab's jsonschema extras (rfc3987-syntax)
# add about 1.4 s of CPU to every import of nbformat, so to every `paperpress run` of the .venv that
# `make demo` and `make test` use. Lab serves the project folder (lib/ is editable there too) with the post
# template open; it refuses to start as root (containers) unless told it may.
LAB_VENV := .venv-lab
LAB_STAMP := $(LAB_VENV)/.installed-stamp

$(LAB_STAMP): requirements.txt pyproject.toml
	@test -x $(LAB_VENV)/bin/python || $(PYTHON) -m venv $(LAB_VENV)
	$(LAB_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[edit]'
	@touch $(LAB_STAMP)

lab: $(LAB_STAMP) system-deps
	$(LAB_VENV)/bin/jupyter lab --ServerApp.root_dir=. $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/digest.ipynb

# pytest exits 5 when it collects no test: that is not a failure of the suite.
test: install
	@$(BIN)/python -m pytest; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; exit 0; fi; exit $$rc

bench: install
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf _site .paperpress .pytest_cache
