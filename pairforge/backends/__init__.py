"""Generation backends. `make_backend` picks one for the recipe's weak model; each backend
module imports only base.py, so the package has no import cycle."""

from __future__ import annotations

from ..errors import PairforgeError
from ..recipe import WeakModel
from .base import Backend, Completion  # noqa: F401  (the interface every backend implements)


def resolve_backend(name: str, end_nudge: bool = False) -> tuple[str, str]:
    """(backend to use, why) for the recipe's backend; `auto` picks vLLM when it is usable, and
    transformers for a recipe with sampling.end_nudge (which only transformers runs)."""
    if name != "auto":
        return name, ""
    if end_nudge:
        return "transformers", "sampling.end_nudge runs on transformers only"
    from .vllm_backend import vllm_status

    ok, why = vllm_status()
    return ("vllm", "vllm is installed and usable") if ok else ("transformers", f"vLLM skipped: {why}")


def make_backend(cfg: WeakModel) -> Backend:
    from ..weights import resolve_weak_model

    ref = resolve_weak_model(cfg)
    if cfg.backend == "transformers":
        from .transformers_backend import TransformersBackend

        return TransformersBackend(cfg, ref)
    if cfg.backend == "vllm":
        from .vllm_backend import VLLMBackend, vllm_status

        ok, why = vllm_status()
        if not ok:
            raise PairforgeError(f"weak_model.backend: vllm: {why}; or use --set weak_model.backend=transformers")
        return VLLMBackend(cfg, ref)
    if cfg.backend == "openai":
        from .openai_backend import OpenAIBackend

        return OpenAIBackend(cfg, ref)
    raise AssertionError(f"backend {cfg.backend} should have been resolved")
