"""Held-out preference accuracy: does the model prefer chosen over rejected?

For each pair we compute the summed log-probability of the chosen and of the rejected answer
given the prompt (the model's chat template, as TRL tokenizes it). Two figures:

- implicit reward (DPO/IPO): r(y) = beta * (log pi(y|x) - log pi_ref(y|x)); accuracy is the share
  of pairs with r(chosen) > r(rejected), margin the mean r(chosen) - r(rejected). For the base
  model pi == pi_ref, so every margin is 0 and the accuracy is 0 by definition.
- log-prob preference: the share of pairs whose chosen answer has a higher mean per-token
  log-probability than the rejected one; meaningful for the base model too.
"""

from __future__ import annotations


def _encode(tok, prompt, answer, max_length: int):
    if isinstance(prompt, str):
        prompt = [{"role": "user", "content": prompt}]
    if isinstance(answer, list):
        answer = answer[0]["content"]
    p = tok.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, return_dict=False)
    full = tok.apply_chat_template(prompt + [{"role": "assistant", "content": answer}], tokenize=True,
                                   return_dict=False)
    if not isinstance(p, list):  # some tokenizers return BatchEncoding
        p, full = p["input_ids"], full["input_ids"]
    if full[: len(p)] != p:  # template not prefix-stable: fall back to plain concatenation
        full = p + tok(answer, add_special_tokens=False)["input_ids"]
    full = full[:max_length]
    return full, min(len(p), len(full))


def sequence_logps(model, tok, rows: list[dict], max_length: int, batch_size: int = 8):
    """(chosen logp sums, rejected logp sums, chosen token counts, rejected token counts)."""
    import torch

    device = next(model.parameters()).device
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    items = []
    for r in rows:
        items.append(_encode(tok, r["prompt"], r["chosen"], max_length))
        items.append(_encode(tok, r["prompt"], r["rejected"], max_length))
    sums, counts = [], []
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for b in range(0, len(items), batch_size):
            chunk = items[b : b + batch_size]
            width = max(len(ids) for ids, _ in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            attn = torch.zeros((len(chunk), width), dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.bool)
            for i, (seq, start) in enumerate(chunk):
                ids[i, : len(seq)] = torch.tensor(seq)
                attn[i, : len(seq)] = 1
                mask[i, start : len(seq)] = True
            logits = model(input_ids=ids.to(device), attention_mask=attn.to(device)).logits.float()
            logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:].to(device).unsqueeze(-1)).squeeze(-1)
            m = mask[:, 1:].to(device)
            sums.extend((logp * m).sum(-1).tolist())
            counts.extend(m.sum(-1).tolist())
    if was_training:
        model.train()
    return sums[0::2], sums[1::2], counts[0::2], counts[1::2]


def preference_metrics(policy, ref, beta: float) -> dict:
    """policy / ref: outputs of sequence_logps on the same rows (ref may be policy itself)."""
    pc, pr, nc, nr = policy
    rc, rr = ref[0], ref[1]
    margins = [beta * ((a - b) - (c - d)) for a, b, c, d in zip(pc, pr, rc, rr)]
    n = len(margins)
    per_token = [a / max(1, x) > b / max(1, y) for a, b, x, y in zip(pc, pr, nc, nr)]
    return {
        "pairs": n,
        "reward_accuracy": round(sum(m > 0 for m in margins) / n, 4) if n else None,
        "reward_margin_mean": round(sum(margins) / n, 4) if n else None,
        "logp_accuracy": round(sum(per_token) / n, 4) if n else None,
    }
