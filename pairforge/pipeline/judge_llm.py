"""An LLM as the judge, through the generation backends (transformers, vLLM, OpenAI-compatible).

Each pair is judged twice, chosen as answer A and then as answer B, so a judge that always
prefers one position scores the pair a tie. The verdict must be the last non-empty line of the
reply, exactly `Verdict: A`, `Verdict: B` or `Verdict: tie` (case-insensitive, a final period
allowed); a reply cut at max_tokens counts as no verdict. The judge samples with its own settings
(sections.JudgeSampling: greedy, a fixed 512-token budget per reply), never the weak model's.
Scores are win rates: each order gives the chosen answer 1 (win), 0.5 (tie) or 0 (loss);
chosen_score is their mean and rejected_score is 1 - chosen_score, so score_margin lies in
[-1, 1] and is negative for an inverted pair.

A pair without two verdicts is dropped, never scored by guess: `judge_unparseable` (no verdict
line), `judge_error` (the server refused the request) or `judge_prompt_too_long` (the judge
prompt does not fit the judge model's context). The first two carry the judge's own words as a
fifth element (`judge_reply`: the server's error, or the end of the reply that held no verdict),
which the stage keeps in excluded/ so a user can see why.
"""

from __future__ import annotations

import re

from ..recipe import JudgeConfig
from .generate import error_text, prompt_limit, row_seed

PROMPT = """You are comparing two answers to the same request. Judge which answer is more helpful, \
correct and complete for the request. Ignore the order in which the answers are shown and their length.

[Request]
{question}

[Answer A]
{answer_a}

[Answer B]
{answer_b}

Explain your reasoning briefly, then end your reply with exactly one line: "Verdict: A", \
"Verdict: B" or "Verdict: tie"."""

VERDICT = re.compile(r"verdict:\s*(a|b|tie)\.?", re.IGNORECASE)
OUTCOME = {"win": 1.0, "tie": 0.5, "loss": 0.0}


def render_plain(messages: list[dict]) -> str:
    """The request as the judge reads it: the user's text alone for a one-turn prompt, else every
    turn labelled ('System: ...', 'User: ...', 'Assistant: ...')."""
    if len(messages) == 1:
        return messages[0]["content"]
    return "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages)


def judge_messages(prompt: list[dict], answer_a: str, answer_b: str) -> list[dict]:
    text = PROMPT.format(question=render_plain(prompt), answer_a=answer_a, answer_b=answer_b)
    return [{"role": "user", "content": text}]


def parse_verdict(text: str | None) -> str | None:
    """'A', 'B' or 'tie' from the reply's last non-empty line, or None when it is not a verdict."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    m = VERDICT.fullmatch(lines[-1]) if lines else None
    if not m:
        return None
    v = m.group(1).lower()
    return "tie" if v == "tie" else v.upper()


def chosen_outcome(verdict: str, chosen_as: str) -> float:
    """The chosen answer's result in one order (it was shown as `chosen_as`, 'A' or 'B')."""
    if verdict == "tie":
        return OUTCOME["tie"]
    return OUTCOME["win"] if verdict == chosen_as else OUTCOME["loss"]


def reply_text(reply, chosen_as: str, secrets=()) -> str:
    """What a dropped pair keeps of the judge's reply (one line, the backend's secrets masked, at most
    about ERROR_CHARS): the server's error, or the reply's end, where a verdict line should have been."""
    where = f"chosen shown as {chosen_as}: "
    if reply.error:
        return where + "server error: " + error_text(reply.error, secrets=secrets)
    cut = "cut at the judge's token budget; " if reply.finish_reason == "length" else ""
    text = error_text(reply.text or "", tail=True, secrets=secrets)
    return where + cut + (f"reply ends: {text}" if text else "empty reply")


def combine(reply_chosen_a, reply_chosen_b, secrets=()) -> tuple:
    """(chosen_score, rejected_score, truncated, reason) from the replies of both orders, plus the
    judge's reply (reply_text) when a reply held no verdict."""
    outcomes = []
    for reply, chosen_as in ((reply_chosen_a, "A"), (reply_chosen_b, "B")):
        if isinstance(reply, str):  # a reason the request was not sent
            return None, None, False, reply
        if reply.error:
            return None, None, False, "judge_error", reply_text(reply, chosen_as, secrets)
        verdict = parse_verdict(reply.text) if reply.finish_reason != "length" else None
        if verdict is None:
            return None, None, False, "judge_unparseable", reply_text(reply, chosen_as, secrets)
        outcomes.append(chosen_outcome(verdict, chosen_as))
    chosen = sum(outcomes) / 2
    return chosen, 1.0 - chosen, False, None


class LLMJudgeScorer:
    def __init__(self, cfg: JudgeConfig, backend=None):
        from ..backends import make_backend, resolve_backend

        self.cfg = cfg.llm
        if backend is None:
            self.cfg.backend, _ = resolve_backend(self.cfg.backend, self.cfg.sampling.end_nudge.enabled)
            backend = make_backend(self.cfg)
        self.backend = backend

    def score(self, rows: list[dict]) -> list[tuple]:
        prompts, seeds = [], []
        for r in rows:
            for order, (a, b) in enumerate(((r["chosen"], r["rejected"]), (r["rejected"], r["chosen"]))):
                prompts.append(judge_messages(r["prompt"], a, b))
                seeds.append(row_seed(self.cfg.sampling.seed, f"{r['id']}:{r['sample_index']}:{order}"))
        replies: list = [None] * len(prompts)
        limit = prompt_limit(self.cfg, self.backend)
        counts = self.backend.prompt_token_counts(prompts)
        send = []
        for i, n in enumerate(counts):
            if limit is not None and n is not None and n > limit:
                replies[i] = "judge_prompt_too_long"
            else:
                send.append(i)
        bs, budget = self.cfg.batch_size, self.cfg.sampling.max_tokens  # a number: recipe.py refuses auto
        for b in range(0, len(send), bs):
            idx = send[b : b + bs]
            outs = self.backend.generate([prompts[i] for i in idx], seeds=[seeds[i] for i in idx],
                                         max_tokens=[budget] * len(idx))
            for i, out in zip(idx, outs):
                replies[i] = out[0]
        secrets = getattr(self.backend, "secrets", ())  # a served judge's key and password: never in excluded/
        return [combine(replies[2 * k], replies[2 * k + 1], secrets) for k in range(len(rows))]
