"""Weak-model generation with transformers: batched, left-padded, the model's own chat template."""

from __future__ import annotations

from ..errors import PairforgeError
from ..weights import ModelRef, materialise
from ..recipe import WeakModel
from .base import Completion
from ..lineage import public_model_name
from .chat import renderer_for

def pick_device(requested: str) -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise PairforgeError(f"weak_model.device: {requested!r} but no CUDA GPU is visible; use --set weak_model.device=cpu")
    return requested


class TransformersBackend:
    name = "transformers"
    schedules_itself = False  # padded batches of weak_model.batch_size

    def __init__(self, cfg: WeakModel, ref: ModelRef):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.cfg = cfg
        self.ref = ref
        self.model_name = public_model_name(ref)  # rejected_model: never a local path
        self.device = pick_device(cfg.device)
        path, kwargs = materialise(ref)
        if cfg.dtype == "auto":
            dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        else:
            dtype = getattr(torch, cfg.dtype)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
            self.model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **kwargs)
        except OSError as e:
            raise PairforgeError(
                f"weak_model.model: cannot load {ref.name!r} ({str(e).splitlines()[0]}); give a local folder "
                "or the built-in smollm2-135m-instruct"
            ) from None
        self.model.to(self.device).eval()
        self.chat = renderer_for(self.tokenizer, cfg, ref.name)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        gen_cfg = self.model.generation_config
        eos = gen_cfg.eos_token_id if gen_cfg.eos_token_id is not None else self.tokenizer.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos])
        self.context_length = getattr(self.model.config, "max_position_embeddings", None)

    # ------------------------------------------------------------------ tokens

    def _render(self, prompts: list[list[dict]]) -> list[str]:
        return self.chat.render(prompts)

    def prompt_token_counts(self, prompts: list[list[dict]]) -> list[int]:
        enc = self.tokenizer(self._render(prompts), add_special_tokens=False)
        return [len(ids) for ids in enc["input_ids"]]

    def token_counts(self, texts: list[str]) -> list[int]:
        enc = self.tokenizer(texts, add_special_tokens=False)
        return [len(ids) for ids in enc["input_ids"]]

    # ------------------------------------------------------------------ generation

    def generate(self, prompts: list[list[dict]], seeds: list[int],
                 max_tokens: list[int] | None = None) -> list[list[Completion]]:
        """One generate call with the batch's largest budget; each row is stopped (a stopping
        criterion) and cut at its own budget, `length` where no EOS came within it: the same result
        as a per-row max_new_tokens, as sampling at a step does not depend on the limit."""
        s = self.cfg.sampling
        return self._run(self._render(prompts), seeds, max_tokens or [s.max_tokens] * len(prompts), s.n)

    def continue_answers(self, prompts: list[list[dict]], answers: list[str], seeds: list[int],
                         max_tokens: list[int]) -> list[Completion]:
        """One more piece of each answer cut at its budget: the prompt and the answer so far are
        read (not generated) and up to max_tokens more are written; the piece only."""
        texts = [t + a for t, a in zip(self._render(prompts), answers)]
        return [out[0] for out in self._run(texts, seeds, max_tokens, 1)]

    def _run(self, texts: list[str], seeds: list[int], budgets: list[int], n: int) -> list[list[Completion]]:
        import torch

        s = self.cfg.sampling
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        enc = {k: v.to(self.device) for k, v in enc.items()}
        width = enc["input_ids"].shape[1]
        sample = s.temperature > 0
        kwargs = dict(
            max_new_tokens=max(budgets),
            do_sample=sample,
            num_return_sequences=n,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=sorted(self.eos_ids),
            stopping_criteria=[_RowBudgets(budgets, n, width, self.device)],
        )
        if s.end_nudge.enabled:  # each answer (a continuation's piece too) nudged within its own budget
            kwargs["logits_processor"] = [_EndNudge([s.end_nudge.start_at(b) for b in budgets], s.end_nudge.factor,
                                                    n, width, sorted(self.eos_ids), self.device)]
        if sample:
            kwargs.update(temperature=s.temperature, top_p=s.top_p, top_k=0)
        else:  # greedy: silence the model's own sampling defaults
            kwargs.update(temperature=None, top_p=None, top_k=None)
        # one RNG stream per batch: the batch's samples depend on its members (batch_size is in the
        # fingerprint); seeding from the members' own seeds keeps reruns and resumes identical
        torch.manual_seed(sum(seeds) % (2**31))
        with torch.inference_mode():
            out = self.model.generate(**enc, **kwargs)
        new = out[:, width:].tolist()
        return [[self._completion(new[i * n + j][: budgets[i]]) for j in range(n)] for i in range(len(texts))]

    def _completion(self, ids: list[int]) -> Completion:
        cut = next((k for k, t in enumerate(ids) if t in self.eos_ids), None)
        body, reason = (ids, "length") if cut is None else (ids[:cut], "stop")
        text = self.tokenizer.decode(body, skip_special_tokens=True)
        return Completion(text=text, finish_reason=reason, tokens=len(body) + (reason == "stop"))


class _RowBudgets:
    """A per-row stopping criterion: a row is done once it has its budget of new tokens (rows
    repeated n times for num_return_sequences), so no compute goes past a short row's budget."""

    def __init__(self, budgets: list[int], n: int, width: int, device: str):
        import torch

        self.limits = torch.tensor([b for b in budgets for _ in range(n)], device=device)
        self.width = width

    def __call__(self, input_ids, scores, **kwargs):
        return (input_ids.shape[1] - self.width) >= self.limits


class _EndNudge:
    """Length-controlled sampling with a start per row: k new tokens past its row's start, each end
    token's logit gains k x ln(factor), so the odds of ending grow by `factor` a token, and the
    answer ends where the model itself gives ending a fair chance (after a sentence, a list, a code
    block) before it is cut at its budget. Rows repeated n times for num_return_sequences, as
    _RowBudgets. Not transformers' exponential_decay_length_penalty: it takes one start_index for
    the whole batch (pairforge's budgets are per row), and it adds |logit| x (factor^k - 1), which
    raises the least plausible end (the most negative logit) the fastest: on the demo (start 0.5,
    factor 1.03) 10 of its 29 nudged answers ended mid-sentence."""

    def __init__(self, starts: list[int], factor: float, n: int, width: int, eos_ids: list[int], device: str):
        import math

        import torch

        self.starts = torch.tensor([s for s in starts for _ in range(n)], device=device)
        self.step, self.width = math.log(factor), width
        self.eos = torch.tensor(eos_ids, device=device)

    def __call__(self, input_ids, scores):
        k = ((input_ids.shape[1] - self.width) - self.starts).clamp(min=0)
        if not bool((k > 0).any()):
            return scores
        out = scores.clone()
        out[:, self.eos] += (k * self.step).to(scores.dtype)[:, None]
        return out
