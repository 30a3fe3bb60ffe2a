"""A reward model as the judge: AutoModelForSequenceClassification with one label (Skywork-Reward,
OpenAssistant reward models), scoring prompt + answer rendered with the reward model's own chat
template. Conversations longer than `judge.max_length` keep their end (the score is read at the
last token) and are marked `judge_truncated`."""

from __future__ import annotations

from ..errors import PairforgeError
from ..recipe import JudgeConfig


def _device(requested: str) -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise PairforgeError(f"judge.device: {requested!r} but no CUDA GPU is visible; use --set judge.device=cpu")
    return requested


def _load(cfg: JudgeConfig, dtype):
    """(tokenizer, model) of the reward model, or a one-line error saying why it is not one."""
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    kwargs = {"revision": cfg.revision} if cfg.revision else {}
    try:
        config = AutoConfig.from_pretrained(cfg.model, **kwargs)
    except (OSError, ValueError) as e:
        raise PairforgeError(f"judge.model: cannot load {cfg.model!r} ({str(e).splitlines()[0]})") from None
    archs = config.architectures or []
    if not any(a.endswith("ForSequenceClassification") for a in archs):
        raise PairforgeError(f"judge.model: {cfg.model!r} is not a reward model (architectures {archs}); "
                             "give an AutoModelForSequenceClassification model with one label")
    if config.num_labels != 1:
        raise PairforgeError(f"judge.model: {cfg.model!r} has {config.num_labels} labels; a reward model has "
                             "one (num_labels=1), a score per conversation")
    tokenizer = AutoTokenizer.from_pretrained(cfg.model, **kwargs)
    if cfg.chat_template:
        tokenizer.chat_template = cfg.chat_template
    if not tokenizer.chat_template:
        raise PairforgeError(f"judge.chat_template: the reward model {cfg.model!r} has no chat template; give "
                             "the one it was trained with as judge.chat_template")
    model, info = AutoModelForSequenceClassification.from_pretrained(
        cfg.model, dtype=dtype, output_loading_info=True, **kwargs)
    if info.get("missing_keys"):
        raise PairforgeError(f"judge.model: {cfg.model!r} lacks weights {sorted(info['missing_keys'])[:3]}: "
                             "its score head would be random")
    return tokenizer, model


class RewardModelScorer:
    def __init__(self, cfg: JudgeConfig):
        import torch

        self.cfg = cfg
        self.device = _device(cfg.device)
        if cfg.dtype == "auto":
            dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        else:
            dtype = getattr(torch, cfg.dtype)
        self.tokenizer, self.model = _load(cfg, dtype)
        self.model.to(self.device).eval()
        pad = self.model.config.pad_token_id
        pad = pad if pad is not None else self.tokenizer.pad_token_id
        self.model.config.pad_token_id = pad
        # without a pad token the model cannot find each row's last token in a padded batch
        self.batch_size = cfg.batch_size if pad is not None else 1
        self.pad_id = pad if pad is not None else 0

    def encode(self, prompt: list[dict], answer: str) -> tuple[list[int], bool]:
        """Token ids of the conversation (the template's own special tokens), and whether it was cut."""
        conv = list(prompt) + [{"role": "assistant", "content": answer}]
        text = self.tokenizer.apply_chat_template(conv, tokenize=False)
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        limit = self.cfg.max_length
        return (ids[-limit:], True) if len(ids) > limit else (ids, False)

    def rewards(self, seqs: list[list[int]]) -> list[float]:
        """One reward per sequence; batches of similar length, right-padded."""
        import torch

        order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))
        out = [0.0] * len(seqs)
        for b in range(0, len(order), self.batch_size):
            idx = order[b : b + self.batch_size]
            width = max(len(seqs[i]) for i in idx)
            ids = torch.full((len(idx), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for row, i in enumerate(idx):
                ids[row, : len(seqs[i])] = torch.tensor(seqs[i])
                mask[row, : len(seqs[i])] = 1
            with torch.inference_mode():
                logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits
            for row, i in enumerate(idx):
                out[i] = float(logits[row, 0].float())
        return out

    def score(self, rows: list[dict]) -> list[tuple]:
        encoded = []
        for r in rows:
            encoded += [self.encode(r["prompt"], r["chosen"]), self.encode(r["prompt"], r["rejected"])]
        rewards = self.rewards([ids for ids, _ in encoded])
        return [(rewards[2 * k], rewards[2 * k + 1], encoded[2 * k][1] or encoded[2 * k + 1][1], None)
                for k in range(len(rows))]
