"""The IPO margin on a set of pairs: the mean over pairs of (mean log-prob per token of the chosen
answer) minus (that of the rejected answer) under a model, prompts rendered with its chat template.
IPO (TRL's, on per-token averaged log-probs) raises exactly this quantity relative to the reference,
so after training on pairs it must rise, and after training on the same pairs swapped it must fall."""

from __future__ import annotations


def mean_margin(model_dir: str, rows: list[dict], threads: int = 1) -> float:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(threads)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()

    def avg_logp(prompt_ids: list[int], answer: str) -> float:
        ids = tok(answer, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        full = torch.tensor([prompt_ids + ids])
        with torch.inference_mode():
            logp = torch.log_softmax(model(full).logits[0, :-1].float(), dim=-1)
        targets = full[0, len(prompt_ids):]
        return logp[len(prompt_ids) - 1:].gather(1, targets[:, None]).mean().item()

    margins = []
    for r in rows:
        text = tok.apply_chat_template(r["prompt"], tokenize=False, add_generation_prompt=True)
        p = tok(text, add_special_tokens=False)["input_ids"]
        margins.append(avg_logp(p, r["chosen"][0]["content"]) - avg_logp(p, r["rejected"][0]["content"]))
    return sum(margins) / len(margins)
