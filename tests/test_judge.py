"""Pair scoring: a reward model or an LLM judge scores chosen and rejected; inverted pairs are
dropped by filters.min_margin; with n > 1 one rejected sample per prompt is selected; scoring
resumes from .pairforge_work/judged/."""

import json
import math

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import REPO, tiny_recipe
from pairforge.backends.base import Completion
from pairforge.errors import PairforgeError, RecipeError
from pairforge.pipeline import judge as judge_mod
from pairforge.pipeline.build import run_build
from pairforge.pipeline.judge_llm import LLMJudgeScorer, combine, parse_verdict
from pairforge.pipeline.select import MinMargin, SelectRejected
from pairforge.recipe import recipe_from_dict

DEMO = str(REPO / "pairforge" / "demo" / "sft.jsonl")


def _save_rm(folder, tiny_model, num_labels=1, template=True):
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    tok = AutoTokenizer.from_pretrained(tiny_model)
    if not template:
        tok.chat_template = None
    torch.manual_seed(1)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=1, num_key_value_heads=1, max_position_embeddings=512,
                      pad_token_id=tok.pad_token_id, num_labels=num_labels)
    LlamaForSequenceClassification(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def tiny_rm(tiny_model, tmp_path_factory):
    """A random Llama reward model (one label) with the tiny model's tokenizer and ChatML template."""
    return _save_rm(tmp_path_factory.mktemp("tiny-rm"), tiny_model)


def build(tiny_model, out, source=None, **sections):
    r = tiny_recipe(tiny_model, source or {"path": DEMO}, out, **sections)
    return run_build(recipe_from_dict(r), quiet=True)


def weak(tiny_model, n=1, max_tokens=12):
    return {"model": tiny_model, "device": "cpu", "batch_size": 8,
            "sampling": {"temperature": 1.0, "top_p": 1.0, "max_tokens": max_tokens, "n": n, "seed": 0}}


def out_rows(out):
    dd = datasets.load_dataset(str(out))
    return [r for split in dd for r in dd[split]]


def text(v):
    return v[0]["content"] if isinstance(v, list) else v


class FakeScorer:
    """Known scores: chosen 1.0; rejected from `rejected(row)`; counts calls and rows."""

    def __init__(self, rejected):
        self.rejected, self.calls, self.rows = rejected, 0, []

    def score(self, rows):
        self.calls += 1
        self.rows += rows
        return [(1.0, self.rejected(r), False, None) for r in rows]


# ------------------------------------------------------------------ reward model


def test_reward_model_build_scores_every_pair_with_the_reward_model(tiny_model, tiny_rm, tmp_path):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out = tmp_path / "out"
    summary = build(tiny_model, out, judge={"kind": "reward_model", "model": tiny_rm, "device": "cpu", "batch_size": 4})
    rows = out_rows(out)
    assert rows and len(rows) == summary["rows_written"]
    for r in rows:
        assert math.isclose(r["score_margin"], r["chosen_score"] - r["rejected_score"], abs_tol=1e-9)
        assert r["judge_truncated"] is False
    # the stored scores are the reward model's own, for the right answer (chosen vs rejected not swapped)
    tok, rm = AutoTokenizer.from_pretrained(tiny_rm), AutoModelForSequenceClassification.from_pretrained(tiny_rm)
    for r in rows[:3]:
        for col, answer in (("chosen_score", r["chosen"]), ("rejected_score", r["rejected"])):
            ids = tok(tok.apply_chat_template(r["prompt"] + answer, tokenize=False), add_special_tokens=False,
                      return_tensors="pt")["input_ids"]
            with torch.inference_mode():
                expected = float(rm(input_ids=ids).logits[0, 0])
            assert math.isclose(r[col], expected, rel_tol=1e-4, abs_tol=1e-5)
    assert len({r["chosen_score"] for r in rows}) > 1  # not one constant
    stats = json.loads((out / "stats.json").read_text())
    j = stats["judge"]
    assert j["kind"] == "reward_model" and j["scored"]["count"] == len(rows) == j["written"]["count"]
    margins = sorted(r["score_margin"] for r in rows)
    assert j["scored"]["inverted"] == sum(m < 0 for m in margins)
    assert "judge" in stats["seconds"]
    assert [f["stage"] for f in stats["funnel"]].index("judge") > [f["stage"] for f in stats["funnel"]].index("filter_post")
    card = (out / "README.md").read_text()
    assert "### Pair scores" in card and f"| scored | {len(rows)} |" in card
    assert str(j["scored"]["margin"]["p50"]) in card
    from pairforge.lineage import local_label

    assert j["model"] == local_label(tiny_rm) and f"**{local_label(tiny_rm)}**" in card  # a name, not the path
    assert tiny_rm not in card and tiny_rm not in (out / "stats.json").read_text()


def test_reward_model_batched_equals_one_at_a_time_and_truncation_is_recorded(tiny_rm):
    from pairforge.pipeline.judge_rm import RewardModelScorer

    cfg = recipe_from_dict({"source": {"path": DEMO}, "judge": {"kind": "reward_model", "model": tiny_rm,
                                                                 "device": "cpu", "batch_size": 8}}).judge
    rows = [{"prompt": [{"role": "user", "content": "q" * (i + 1)}], "chosen": "word " * (3 * i + 1),
             "rejected": "no"} for i in range(6)]
    batched = RewardModelScorer(cfg).score(rows)
    cfg.batch_size = 1
    single = RewardModelScorer(cfg).score(rows)
    for a, b in zip(batched, single):
        assert math.isclose(a[0], b[0], abs_tol=1e-4) and math.isclose(a[1], b[1], abs_tol=1e-4)
    cfg.max_length = 12
    scorer = RewardModelScorer(cfg)
    cut = scorer.score(rows)
    n_tokens = [len(scorer.encode(r["prompt"], r["chosen"])[0]) for r in rows]
    assert max(n_tokens) == 12 and all(c[2] for c in cut[-2:])
    long_ids, truncated = scorer.encode(rows[-1]["prompt"], rows[-1]["chosen"])
    full = scorer.tokenizer(scorer.tokenizer.apply_chat_template(
        rows[-1]["prompt"] + [{"role": "assistant", "content": rows[-1]["chosen"]}], tokenize=False),
        add_special_tokens=False)["input_ids"]
    assert truncated and long_ids == full[-12:]  # the end is kept: the reward is read at the last token


def test_reward_model_that_is_not_one_fails_with_one_line(tiny_model, tmp_path):
    from pairforge.pipeline.judge_rm import RewardModelScorer

    def cfg(model, **kw):
        return recipe_from_dict({"source": {"path": DEMO},
                                 "judge": {"kind": "reward_model", "model": model, "device": "cpu", **kw}}).judge

    two = _save_rm(tmp_path / "two", tiny_model, num_labels=2)
    with pytest.raises(PairforgeError, match="2 labels"):
        RewardModelScorer(cfg(two))
    with pytest.raises(PairforgeError, match="not a reward model"):
        RewardModelScorer(cfg(tiny_model))  # a causal LM: its score head would be random
    bare = _save_rm(tmp_path / "bare", tiny_model, template=False)
    with pytest.raises(PairforgeError, match="judge.chat_template"):
        RewardModelScorer(cfg(bare))
    from conftest import CHATML

    scorer = RewardModelScorer(cfg(bare, chat_template=CHATML))
    assert len(scorer.score([{"prompt": [{"role": "user", "content": "hi"}], "chosen": "a", "rejected": "b"}])) == 1
    with pytest.raises(PairforgeError, match="judge.model"):
        RewardModelScorer(cfg(str(tmp_path / "missing")))


def test_recipe_checks_for_the_judge():
    base = {"source": {"path": DEMO}}
    with pytest.raises(RecipeError, match="min_margin"):
        recipe_from_dict({**base, "filters": {"min_margin": 0.0}})
    with pytest.raises(RecipeError, match="judge.rejected"):
        recipe_from_dict({**base, "judge": {"rejected": "lowest"}})
    with pytest.raises(RecipeError, match="judge.model"):
        recipe_from_dict({**base, "judge": {"kind": "reward_model"}})
    with pytest.raises(RecipeError, match="judge.llm.sampling.n"):
        recipe_from_dict({**base, "judge": {"kind": "llm", "llm": {"sampling": {"n": 2}}}})
    with pytest.raises(RecipeError, match="judge.kind"):
        recipe_from_dict({**base, "judge": {"kind": "off"}})
    with pytest.raises(RecipeError, match="judge.colour: unknown key"):
        recipe_from_dict({**base, "judge": {"colour": 1}})
    r = recipe_from_dict({**base, "judge": {"kind": "llm"}, "filters": {"min_margin": 0}})
    assert r.filters.min_margin == 0.0 and r.judge.rejected == "all"


def test_llm_judge_has_its_own_generation_defaults():
    """Not the weak model's (temperature 0.8, max_tokens auto): greedy verdicts with a fixed budget."""
    base = {"source": {"path": DEMO}}
    r = recipe_from_dict({**base, "judge": {"kind": "llm"}})
    s = r.judge.llm.sampling
    assert (s.temperature, s.max_tokens, s.n) == (0.0, 512, 1)
    assert r.weak_model.sampling.max_tokens == "auto" and r.weak_model.sampling.temperature == 0.8
    for bad in ("auto", 0, -5):
        with pytest.raises(RecipeError, match="judge.llm.sampling.max_tokens: the judge needs a fixed budget"):
            recipe_from_dict({**base, "judge": {"kind": "llm", "llm": {"sampling": {"max_tokens": bad}}}})
    assert recipe_from_dict({**base, "judge": {"kind": "llm", "llm": {"sampling": {"max_tokens": 64}}}}
                            ).judge.llm.sampling.max_tokens == 64
    backend = ScriptedBackend()
    rows = [{"id": str(i), "sample_index": 0, "prompt": [{"role": "user", "content": "Q"}], "chosen": "GOOD",
             "rejected": "meh"} for i in range(3)]
    assert LLMJudgeScorer(r.judge, backend=backend).score(rows) == [(1.0, 0.0, False, None)] * 3
    assert backend.budgets == [512] * 6  # passed explicitly: no backend falls back to a weak model's budget


def test_llm_judge_at_its_defaults_runs_on_transformers(tiny_model, tmp_path):
    """max_tokens auto used to reach transformers' generate (a ValueError); the defaults now work."""
    import shutil

    model = tmp_path / "judge"
    shutil.copytree(tiny_model, model)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "max_position_embeddings": 1024}))  # room for 512
    cfg = recipe_from_dict({"source": {"path": DEMO}, "judge": {"kind": "llm", "llm": {"model": str(model),
                                                                                        "device": "cpu"}}}).judge
    scorer = LLMJudgeScorer(cfg)
    sent, real = [], scorer.backend.generate

    def recording(prompts, seeds, max_tokens=None):
        outs = real(prompts, seeds, max_tokens=max_tokens)
        sent.extend(zip(max_tokens, (o[0] for o in outs)))
        return outs

    scorer.backend.generate = recording
    row = {"id": "1", "sample_index": 0, "prompt": [{"role": "user", "content": "Hi"}], "chosen": "a", "rejected": "b"}
    assert scorer.score([row])[0][3] == "judge_unparseable"  # a random model: no verdict, but no crash
    assert [b for b, _ in sent] == [512, 512] and all(0 < c.tokens <= 512 for _, c in sent)


def test_llm_judge_at_its_defaults_sends_a_number_to_an_openai_server():
    from fakeopenai import FakeOpenAI

    server = FakeOpenAI()
    try:
        cfg = recipe_from_dict({"source": {"path": DEMO}, "judge": {"kind": "llm", "llm": {
            "backend": "openai", "model": "judge", "openai": {"base_url": server.url}}}}).judge
        scorer = LLMJudgeScorer(cfg)
        bodies, real = [], scorer.backend._request
        scorer.backend._request = lambda body, stop: bodies.append(body) or real(body, stop)
        row = {"id": "1", "sample_index": 0, "prompt": [{"role": "user", "content": "Hi"}], "chosen": "a", "rejected": "b"}
        assert scorer.score([row])[0][3] == "judge_unparseable"  # the server echoes: answered, no verdict
    finally:
        server.stop()
    assert [(b["max_tokens"], b["temperature"]) for b in bodies] == [(512, 0.0)] * 2


# ------------------------------------------------------------------ LLM judge


def reply(text, finish="stop", error=None):
    return Completion(text=text, finish_reason=finish, tokens=3, error=error)


def test_verdict_parser_is_strict():
    assert parse_verdict("Both are fine.\nVerdict: A") == "A"
    assert parse_verdict("verdict: b.\n\n  ") == "B"
    assert parse_verdict("Verdict: TIE") == "tie"
    for bad in ("", None, "Verdict: A\nmore text", "The verdict: A", "Verdict: A or B", "Verdict: C",
                "A", "**Verdict: A**"):
        assert parse_verdict(bad) is None, bad


def test_both_orders_cancel_position_bias():
    a, b, tie = reply("x\nVerdict: A"), reply("Verdict: B"), reply("Verdict: tie")
    assert combine(a, b) == (1.0, 0.0, False, None)  # chosen wins as A and as B
    assert combine(b, a) == (0.0, 1.0, False, None)  # the judge prefers the rejected answer: inverted
    assert combine(a, a)[:2] == (0.5, 0.5)  # always "A": position bias only, a tie
    assert combine(tie, b)[:2] == (0.75, 0.25)
    assert combine(a, reply("Verdict: maybe"))[3] == "judge_unparseable"
    assert combine(reply("Verdict: A", finish="length"), b)[3] == "judge_unparseable"  # cut: no verdict
    assert combine(a, reply(None, error="400 too long"))[3] == "judge_error"
    assert combine("judge_prompt_too_long", b)[3] == "judge_prompt_too_long"


def good_wins(a, b):
    return "A" if "GOOD" in a else "B" if "GOOD" in b else "tie"


class ScriptedBackend:
    """A backend whose judge prefers the answer `prefer(answer_a, answer_b)` names (default: the one
    containing GOOD); records every prompt and the budget each was given."""

    name, model_name, context_length = "fake", "fake-judge", None

    def __init__(self, prefer=good_wins):
        self.prefer, self.prompts, self.budgets = prefer, [], []

    def prompt_token_counts(self, prompts):
        return [None] * len(prompts)

    def generate(self, prompts, seeds, max_tokens=None):
        self.prompts += prompts
        self.budgets += max_tokens or [None] * len(prompts)
        outs = []
        for p in prompts:
            body = p[0]["content"]
            a, rest = body.split("[Answer A]\n", 1)[1].split("\n\n[Answer B]\n", 1)
            verdict = self.prefer(a, rest.rsplit("\n\nExplain your reasoning", 1)[0])
            if "GARBLED" in body:
                verdict = "perhaps"
            outs.append([reply(f"Reasoning.\nVerdict: {verdict}")])
        return outs


def test_llm_judge_asks_both_orders_and_scores_win_rates():
    cfg = recipe_from_dict({"source": {"path": DEMO}, "judge": {"kind": "llm", "llm": {"batch_size": 3}}}).judge
    backend = ScriptedBackend()
    scorer = LLMJudgeScorer(cfg, backend=backend)
    rows = [{"id": "1", "sample_index": 0, "prompt": [{"role": "user", "content": "Q1"}], "chosen": "GOOD one", "rejected": "meh"},
            {"id": "2", "sample_index": 0, "prompt": [{"role": "user", "content": "Q2"}], "chosen": "meh", "rejected": "GOOD"},
            {"id": "3", "sample_index": 0, "prompt": [{"role": "user", "content": "Q3"}], "chosen": "x", "rejected": "y"},
            {"id": "4", "sample_index": 0, "prompt": [{"role": "user", "content": "GARBLED"}], "chosen": "GOOD", "rejected": "z"}]
    scores = scorer.score(rows)
    assert scores[0][:2] == (1.0, 0.0) and scores[1][:2] == (0.0, 1.0) and scores[2][:2] == (0.5, 0.5)
    assert scores[3][3] == "judge_unparseable" and scores[3][0] is None
    assert len(backend.prompts) == 8
    first, second = backend.prompts[0][0]["content"], backend.prompts[1][0]["content"]
    assert first.index("GOOD one") < first.index("meh") and second.index("meh") < second.index("GOOD one")
    # through the stage: the unparseable row is dropped with its reason, the inverted one kept with margin -1
    table = pa.Table.from_pylist(rows)
    kept, dropped = judge_mod.Judge(cfg, None, scorer=scorer)(table)
    assert dropped["reason"].to_pylist() == ["judge_unparseable"] and dropped["id"].to_pylist() == ["4"]
    assert kept["score_margin"].to_pylist() == [1.0, -1.0, 0.0]


def test_llm_judge_with_the_transformers_backend_end_to_end(tiny_model, tmp_path):
    """The tiny random model's verdicts are garbage: every pair is dropped with a recorded reason."""
    out = tmp_path / "out"
    judge = {"kind": "llm", "llm": {**weak(tiny_model, max_tokens=6), "sampling": {"temperature": 0, "max_tokens": 6}}}
    with pytest.raises(PairforgeError, match="judge_unparseable"):
        build(tiny_model, out, source={"path": DEMO, "limit": 10}, judge=judge)
    files = sorted((out / ".pairforge_work" / "judged").glob("*.parquet"))
    dropped = pa.concat_tables(pq.read_table(f) for f in files if f.name.endswith(".dropped.parquet"))
    kept = pa.concat_tables(pq.read_table(f) for f in files if not f.name.endswith(".dropped.parquet"))
    assert dropped.num_rows > 0 and kept.num_rows == 0
    assert set(dropped["reason"].to_pylist()) <= {"judge_unparseable", "judge_prompt_too_long"}
    assert "judge_unparseable" in dropped["reason"].to_pylist()


def test_llm_judge_build_with_verdicts_scores_pairs_and_drops_planted_inverted_ones(tiny_model, tmp_path, monkeypatch):
    """The LLM judge at its defaults, through the build: it prefers the source's answer, except on three
    planted pairs where it prefers the weak model's; min_margin 0 drops exactly those."""
    rows = [json.loads(line)["messages"] for line in open(DEMO)]
    planted = {0, 5, 9}
    planted_chosen = {rows[i][-1]["content"] for i in planted}
    references = {m["content"] for msgs in rows for m in msgs if m["role"] == "assistant"}

    def prefer(a, b):
        chosen_is_a = a in references
        inverted = (a if chosen_is_a else b) in planted_chosen
        return "A" if chosen_is_a != inverted else "B"

    backend = ScriptedBackend(prefer)
    monkeypatch.setattr(judge_mod, "make_scorer", lambda cfg, function=None: LLMJudgeScorer(cfg, backend=backend))
    out = tmp_path / "out"
    summary = build(tiny_model, out, judge={"kind": "llm", "llm": {"model": tiny_model}}, filters={"min_margin": 0.0})
    assert set(backend.budgets) == {512} and len(backend.budgets) == 2 * 45  # both orders, every pair
    written = out_rows(out)
    assert len(written) == summary["rows_written"] == 45 - len(planted)
    assert not {r["source_index"] for r in written} & planted
    assert all((r["chosen_score"], r["rejected_score"], r["score_margin"]) == (1.0, 0.0, 1.0) for r in written)
    ex = pq.read_table(out / "excluded" / "filter_margin.parquet").to_pylist()
    assert sorted(e["source_index"] for e in ex) == sorted(planted)
    assert {json.loads(e["detail"])["score_margin"] for e in ex} == {-1.0}
    j = json.loads((out / "stats.json").read_text())["judge"]
    assert j["kind"] == "llm" and j["scored"]["count"] == 45 and j["scored"]["inverted"] == 3
    assert j["written"]["count"] == 42 and j["written"]["inverted"] == 0
    card = (out / "README.md").read_text()
    assert "Every pair was scored by an LLM judge" in card and "| scored | 45 |" in card and "| written | 42 |" in card
    assert "| filter_margin | score_margin_below_min | 3 |" in card


def test_judge_error_and_unparseable_rows_keep_the_judge_reply_in_excluded(tiny_model, tmp_path, monkeypatch):
    """A pair the judge could not score is dropped with the judge's own words in excluded/: the server's
    error (its URL password masked) or the end of the reply that held no verdict, as the detail's first
    key, so no cut of a long row loses it."""
    rows = [json.loads(line)["messages"] for line in open(DEMO)]
    refused, garbled = rows[2][-1]["content"], rows[3][-1]["content"]
    references = {m["content"] for msgs in rows for m in msgs if m["role"] == "assistant"}

    class Faulty(ScriptedBackend):
        def generate(self, prompts, seeds, max_tokens=None):
            outs = super().generate(prompts, seeds, max_tokens)
            for i, p in enumerate(prompts):
                body = p[0]["content"]
                if refused in body:
                    outs[i] = [Completion(text=None, finish_reason="error", tokens=0,
                                          error="HTTP 400: context overflow at http://u:hunter2@judge.local/v1")]
                elif garbled in body:
                    outs[i] = [reply("I think both answers are fine. " * 40 + "My verdict: neither")]
            return outs

    backend = Faulty(lambda a, b: "A" if a in references else "B")
    monkeypatch.setattr(judge_mod, "make_scorer", lambda cfg, function=None: LLMJudgeScorer(cfg, backend=backend))
    out = tmp_path / "out"
    build(tiny_model, out, judge={"kind": "llm", "llm": {"model": tiny_model}})
    ex = {e["source_index"]: e for e in pq.read_table(out / "excluded" / "judge.parquet").to_pylist()}
    assert set(ex) == {2, 3}
    assert ex[2]["reason"] == "judge_error" and ex[3]["reason"] == "judge_unparseable"
    error, unparsed = (json.loads(ex[i]["detail"]) for i in (2, 3))
    assert next(iter(error)) == "judge_reply" and next(iter(unparsed)) == "judge_reply"
    assert error["judge_reply"] == "chosen shown as A: server error: HTTP 400: context overflow at http://***@judge.local/v1"
    assert unparsed["judge_reply"].startswith("chosen shown as A: reply ends: ...")
    assert unparsed["judge_reply"].endswith("are fine. My verdict: neither") and len(unparsed["judge_reply"]) < 600
    assert "hunter2" not in (out / "excluded" / "judge.parquet").read_bytes().decode("latin-1")


def test_judge_error_from_a_real_server_keeps_its_text():
    from fakeopenai import FakeOpenAI

    server = FakeOpenAI()
    try:
        cfg = recipe_from_dict({"source": {"path": DEMO}, "judge": {"kind": "llm", "llm": {
            "backend": "openai", "model": "judge", "openai": {"base_url": server.url}}}}).judge
        row = {"id": "1", "sample_index": 0, "prompt": [{"role": "user", "content": "Hi"}], "chosen": "REFUSE", "rejected": "b"}
        score = LLMJudgeScorer(cfg).score([row])[0]
    finally:
        server.stop()
    assert score[3] == "judge_error" and score[4].startswith("chosen shown as A: server error: HTTP 400")


def test_a_judge_reply_that_echoes_the_api_key_is_masked_in_excluded(monkeypatch):
    """A served judge that writes its own key into an ordinary (200) reply: the key is masked in the
    judge_reply a dropped row keeps, as in an error."""
    from fakeopenai import FakeOpenAI

    key = "sk-SECRETKEY-123456789"
    monkeypatch.setenv("PF_JUDGE_KEY", key)
    said = {"choices": [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": f"I saw header Bearer {key}\nno verdict"}}], "usage": {"completion_tokens": 9}}
    server = FakeOpenAI(script=[(200, said)] * 2, api_key=key)
    try:
        cfg = recipe_from_dict({"source": {"path": DEMO}, "judge": {"kind": "llm", "llm": {
            "backend": "openai", "model": "judge", "openai": {"base_url": server.url, "api_key_env": "PF_JUDGE_KEY"}}}}).judge
        row = {"id": "1", "sample_index": 0, "prompt": [{"role": "user", "content": "Hi"}], "chosen": "a", "rejected": "b"}
        score = LLMJudgeScorer(cfg).score([row])[0]
    finally:
        server.stop()
    assert score[3] == "judge_unparseable" and key not in score[4] and "I saw header Bearer ***" in score[4]


def test_a_huge_reply_is_cut_before_it_is_masked(monkeypatch):
    """A 10 MB reply with no spaces once hung the build in the URL mask's regex: the text is cut to the
    kept length plus a margin longer than any secret before masking, and still ends as written."""
    from pairforge.pipeline import generate as gen_mod

    seen = []
    real = gen_mod.redact_text
    monkeypatch.setattr(gen_mod, "redact_text", lambda text, secrets: seen.append(len(text)) or real(text, secrets))
    kept = gen_mod.error_text("A" * 10_000_000 + " tail sk-1234", tail=True, secrets=["sk-1234"])
    assert kept.endswith("AAA tail ***") and kept.startswith("...") and len(kept) == gen_mod.ERROR_CHARS + 3
    assert max(seen) <= gen_mod.ERROR_CHARS + 1024 + len("sk-1234")
    assert gen_mod.error_text("x" * 2000 + "sk-1234" + "y" * 10, tail=True, secrets=["sk-1234"]).endswith("x***" + "y" * 10)


def test_judge_digest_leaves_out_the_base_url_password():
    def judge(url):
        cfg = recipe_from_dict({"source": {"path": DEMO}, "judge": {"kind": "llm", "llm": {
            "backend": "openai", "model": "judge", "openai": {"base_url": url}}}}).judge
        return judge_mod.Judge(cfg, None, scorer=object())

    one, two = judge("http://u:secret-one@127.0.0.1:9/v1"), judge("http://u:secret-two@127.0.0.1:9/v1")
    assert one.settings_digest() == two.settings_digest() == judge("http://127.0.0.1:9/v1").settings_digest()
    assert one.describe()["digest"] == two.describe()["digest"]
    assert one.settings_digest() != judge("http://u:secret-one@127.0.0.1:10/v1").settings_digest()  # the host counts
    table = pa.table({k: ["x"] for k in ("id", "prompt", "chosen", "rejected")} | {"sample_index": [0]})
    assert one.key(table) == two.key(table)


# ------------------------------------------------------------------ margin, selection, resume


def test_planted_inverted_pairs_are_dropped_by_min_margin(tiny_model, tiny_rm, tmp_path, monkeypatch):
    planted = {0, 5, 9}
    fake = FakeScorer(lambda r: 2.0 if r["source_index"] in planted else 0.0)
    monkeypatch.setattr(judge_mod, "make_scorer", lambda cfg, function=None: fake)
    out = tmp_path / "out"
    build(tiny_model, out, judge={"kind": "reward_model", "model": tiny_rm}, filters={"min_margin": 0.0})
    rows = out_rows(out)
    scored = {r["source_index"] for r in fake.rows}
    assert planted <= scored
    assert not {r["source_index"] for r in rows} & planted
    assert {r["source_index"] for r in rows} == scored - planted
    assert all(r["score_margin"] == 1.0 for r in rows)
    ex = pq.read_table(out / "excluded" / "filter_margin.parquet").to_pylist()
    assert {json.loads(e["detail"])["score_margin"] for e in ex} == {-1.0}
    assert {e["reason"] for e in ex} == {"score_margin_below_min"} and len(ex) == len(planted)
    j = json.loads((out / "stats.json").read_text())["judge"]
    assert j["scored"]["inverted"] == 3 and j["written"]["inverted"] == 0
    assert j["scored"]["inverted_share"] == round(3 / len(fake.rows), 4)
    assert "3 (" in (out / "README.md").read_text()


def test_min_margin_and_selection_stages_directly():
    t = pa.table({"id": ["a", "a", "a", "b", "b", "c"], "sample_index": [0, 1, 2, 0, 1, 0],
                  "rejected_score": [0.3, -0.5, -0.5, 0.1, 0.2, 9.0], "score_margin": [0.0, -1.0, None, 1e-9, 2.0, 0.5]})
    kept, dropped = MinMargin(0.0)(t)
    assert kept["score_margin"].to_pylist() == [0.0, 1e-9, 2.0, 0.5]  # a tie passes min_margin 0
    assert dropped["reason"].to_pylist() == ["score_margin_below_min"] * 2  # inverted, and no score
    assert MinMargin(1e-6)(t)[0].num_rows == 2  # a small positive margin drops ties too
    kept, dropped = SelectRejected("lowest", 0)(t)
    assert sorted(zip(kept["id"].to_pylist(), kept["sample_index"].to_pylist())) == [("a", 1), ("b", 0), ("c", 0)]
    assert set(dropped["reason"].to_pylist()) == {"not_selected"} and dropped.num_rows == 3
    picks = {s: SelectRejected("random", s)(t)[0] for s in range(8)}
    assert all(p["id"].to_pylist().count("a") == 1 and p.num_rows == 3 for p in picks.values())
    assert len({tuple(p["sample_index"].to_pylist()) for p in picks.values()}) > 1  # the seed matters
    assert SelectRejected("random", 3)(t)[0].equals(SelectRejected("random", 3)(t)[0])


def test_rejected_lowest_keeps_one_sample_per_prompt_the_lowest(tiny_model, tiny_rm, tmp_path, monkeypatch):
    import hashlib

    def score(r):
        return int(hashlib.sha256(f"{r['id']}:{r['sample_index']}".encode()).hexdigest()[:6], 16) / 2**24

    fake = FakeScorer(score)
    monkeypatch.setattr(judge_mod, "make_scorer", lambda cfg, function=None: fake)
    out = tmp_path / "out"
    build(tiny_model, out, weak_model=weak(tiny_model, n=3), filters={"lengths": {"rejected": {"min_chars": 25}}},
          judge={"kind": "reward_model", "model": tiny_rm, "rejected": "lowest"})
    rows = out_rows(out)
    # only rows the post-generation filters kept were scored
    post = pq.read_table(out / "excluded" / "filter_post.parquet")
    assert post.num_rows > 0 and all(len(r["rejected"]) >= 25 for r in fake.rows)
    funnel = {f["stage"]: f["rows"] for f in json.loads((out / "stats.json").read_text())["funnel"]}
    assert len(fake.rows) == funnel["filter_post"] == funnel["judge"]
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids))
    lowest = {}
    for r in fake.rows:
        lowest[r["id"]] = min(lowest.get(r["id"], 9), score(r))
    assert set(ids) == set(lowest)
    assert sum(len([x for x in fake.rows if x["id"] == i]) > 1 for i in lowest) > 5  # several samples to choose from
    for r in rows:
        assert r["rejected_score"] == lowest[r["id"]] == score(r)
    ex = pq.read_table(out / "excluded" / "select_rejected.parquet")
    assert set(ex["reason"].to_pylist()) == {"not_selected"} and ex.num_rows == len(fake.rows) - len(rows)


def test_rerun_resumes_judged_tables_and_rescores_an_unfinished_one(tiny_model, tiny_rm, tmp_path, monkeypatch):
    fake = FakeScorer(lambda r: float(r["source_index"] % 3) - 1)
    monkeypatch.setattr(judge_mod, "make_scorer", lambda cfg, function=None: fake)
    out = tmp_path / "out"
    sections = {"judge": {"kind": "reward_model", "model": tiny_rm}, "generation": {"shard_size": 10}}
    build(tiny_model, out, **sections)
    first, calls = out_rows(out), fake.calls
    assert calls == 5  # 45 rows, 10 per shard
    build(tiny_model, out, **sections)
    assert fake.calls == calls  # nothing scored again
    assert json.loads((out / "stats.json").read_text())["judge"]["tables_resumed"] == 5
    assert out_rows(out) == first
    markers = sorted((out / ".pairforge_work" / "judged").glob("*.done"))
    markers[0].unlink()  # as a kill between the scores and the marker leaves it
    build(tiny_model, out, **sections)
    assert fake.calls == calls + 1
    assert out_rows(out) == first
