# wi: the two commands of the quickstart are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
CONFIG ?= configs/paper.yaml

.PHONY: demo test test-slow bench lint mutants venv venv-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# runtime + plotting extras
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[plot]"
	touch $@

# runtime + test extras (pins numpy<2.4 for Brian2, see pyproject.toml)
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test,plot]"
	touch $@ $(VENV)/.installed

venv: $(VENV)/.installed
venv-test: $(VENV)/.installed-test

# the main job: 60 s of the paper protocol, simulated and inferred in one pass, then shown and drawn
demo: $(VENV)/.installed
	$(BIN)/wi run $(CONFIG) -o runs/demo.h5 --force --set duration_ms=60000
	$(BIN)/wi show runs/demo.h5
	$(BIN)/wi plot runs/demo.h5
	@echo "results: runs/demo.h5 (figures in runs/demo-figures/)"

test: $(VENV)/.installed-test
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
	rm -rf $(VENV) build *.egg-info .pytest_cache
