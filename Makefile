# paperpress: `make demo` builds the embedded 2024-04-01 post offline and renders the site;
# `make test` runs the whole test suite. Both create .venv/ when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install system-deps demo test bench clean

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

install: $(STAMP) system-deps

# Optional system packages (a CJK font for chart labels; a browser for the browser tests):
# installed with apt-get where it is available, otherwise the script says what is missing.
system-deps:
	@bash scripts/system-deps.sh

demo: install
	$(BIN)/paperpress run --offline --topic metaverse-avatars --date 2024-04-01
	$(BIN)/paperpress render

# pytest exits 5 when it collects no test: that is not a failure of the suite.
test: install
	@$(BIN)/python -m pytest; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; exit 0; fi; exit $$rc

bench: install
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf _site .paperpress .pytest_cache
