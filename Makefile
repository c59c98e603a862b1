# wi: the two commands of the quickstart are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
CONFIG ?= configs/paper.yaml
# Brian2, the simulator's oracle, lives in its own venv so that the main one keeps the numpy
# users get: python3.13 when it runs here (brian2 2.11.0, any numpy), else $(PYTHON)
# (brian2 2.9.0 with numpy < 2.4); see the `oracle` extra in pyproject.toml.
ORACLE_VENV   ?= .venv-oracle
ORACLE_PYTHON ?= $(shell python3.13 -c 'import venv, ensurepip' >/dev/null 2>&1 && echo python3.13 || echo $(PYTHON))
# numba's cache notices only a kernel's own file, not a callee changed in another one: the test
# runs compile into a cache keyed by the source of wi/ (tests/conftest.py does the same)
SRC_HASH := $(shell find wi -name '*.py' | LC_ALL=C sort | xargs cat | sha1sum | cut -c1-12)
# the numba kernels' tests, run once more with bounds checking (needs its own compile cache)
BOUNDSCHECK_TESTS = tests/test_sim_*.py tests/test_infer_methods.py tests/test_infer_chunks.py \
	tests/test_autoencoder_model.py

.PHONY: demo test test-slow bench lint mutants paper venv venv-test venv-oracle clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# runtime + plotting extras
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[plot]"
	$(BIN)/python scripts/precompile.py
	touch $@

# runtime + test extras (no Brian2 here: the main venv keeps the numpy users install)
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test,plot]"
	touch $@ $(VENV)/.installed

$(ORACLE_VENV)/bin/python:
	$(ORACLE_PYTHON) -m venv $(ORACLE_VENV)
	$(ORACLE_VENV)/bin/python -m pip install --quiet --upgrade pip

# runtime + Brian2 + pytest, for `pytest -m oracle`
$(ORACLE_VENV)/.installed: pyproject.toml | $(ORACLE_VENV)/bin/python
	$(ORACLE_VENV)/bin/pip install --quiet -e ".[oracle]"
	touch $@

venv: $(VENV)/.installed
venv-test: $(VENV)/.installed-test
venv-oracle: $(ORACLE_VENV)/.installed

# the main job: 60 s of the paper protocol, simulated and inferred in one pass, then shown and drawn
demo: $(VENV)/.installed
	$(BIN)/wi run $(CONFIG) -o runs/demo.h5 --force --set duration_ms=60000
	$(BIN)/wi show runs/demo.h5
	$(BIN)/wi plot runs/demo.h5
	@echo "results: runs/demo.h5 (figures in runs/demo-figures/)"

# the whole of Ahmad et al. (2021) at the paper's lengths, with its report (runs/reproduce-ahmad2021/report.html)
paper: $(VENV)/.installed
	$(BIN)/wi reproduce ahmad2021 --jobs $(or $(JOBS),2)

# three pytest runs: the Brian2 oracle in its venv, the numba kernels' tests with bounds
# checking, then the whole suite (its summary is the last line)
test: $(VENV)/.installed-test $(ORACLE_VENV)/.installed
	NUMBA_CACHE_DIR=$(ORACLE_VENV)/numba-cache/$(SRC_HASH) $(ORACLE_VENV)/bin/python -m pytest -q -m oracle tests/test_brian2_oracle.py tests/test_brian2_network.py
	NUMBA_BOUNDSCHECK=1 NUMBA_CACHE_DIR=.numba-cache/boundscheck-$(SRC_HASH) $(BIN)/python -m pytest -n 2 -q $(BOUNDSCHECK_TESTS)
	$(BIN)/python -m pytest -n 2 -q

# long science checks (none at the moment: the ordering STDWI > Akrout > RDD at 200 s runs in `make test`)
test-slow: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -m slow || [ $$? -eq 5 ]

bench: $(VENV)/.installed-test
	$(BIN)/python -m benchmarks

# mutation testing of the science code (wi/sim, wi/infer, wi/autoencoder/model.py) in a copy of the tree
mutants: $(VENV)/.installed-test
	$(BIN)/python scripts/mutants.py $(MUTANTS_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check wi tests benchmarks scripts
	$(BIN)/ruff format --check wi tests benchmarks scripts

clean:
	rm -rf $(VENV) $(ORACLE_VENV) .numba-cache build *.egg-info .pytest_cache
