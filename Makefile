# calolab: set up a virtual environment and run the main job, the tests or the linters.
#   make demo    - set up, then run `calolab demo` (the whole pipeline on a small default)
#   make test    - set up, then run the test suite
#   make lint    - black --check, ruff, mypy, the import contract (lint-imports)
#   make docs    - the documentation site (MkDocs, API reference from the docstrings) in build/site
#   make bench   - the benchmarks of BENCHMARKS.md
#   make examples - every study example with --quick, then their results checked
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.calolab-installed
PYTEST_WORKERS ?= 2

.PHONY: setup demo test lint docs bench examples clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# CPU build of PyTorch first, so that the torch requirement does not pull a CUDA build
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[all,dev,docs]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/calolab demo

test: $(STAMP)
	bash scripts/setup-browser.sh
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup

lint: $(STAMP)
	$(BIN)/black --check src tests benchmarks scripts examples
	$(BIN)/ruff check src tests benchmarks scripts examples
	$(BIN)/mypy
	$(BIN)/lint-imports

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

EXAMPLES := photon-endcap event-images design-course muon-tev mode-design
examples: $(STAMP)
	rm -rf build/examples && mkdir -p build/examples
	for ex in $(EXAMPLES); do \
		$(BIN)/python examples/$$ex/run.py --quick --threads 2 --output build/examples/$$ex \
			> build/examples-$$ex.log 2>&1 || { tail -n 30 build/examples-$$ex.log; exit 1; }; \
	done
	$(BIN)/python examples/check.py $(patsubst %,build/examples/%/results.json,$(EXAMPLES))

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
