"""weak_model.system_prompt and weak_model.chat_template: what the weak model is shown, rendered in
one place (backends/chat.py) for the transformers and vLLM backends."""

import json
import shutil

import datasets
import pytest

from conftest import REPO, tiny_recipe, write_recipe
from pairforge.backends.chat import ChatRenderer
from pairforge.errors import PairforgeError, RecipeError
from pairforge.pipeline.build import run_build
from pairforge.recipe import fingerprint, load_recipe, recipe_from_dict

DEMO = str(REPO / "pairforge" / "demo" / "sft.jsonl")
CONV = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "hi"}]
BRACKETS = ("{% for m in messages %}[{{ m['role'] }}]{{ m['content'] }}\n{% endfor %}"
            "{% if add_generation_prompt %}[assistant]{% endif %}")


def _tokenizer(folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="module")
def smollm2_folder():
    from pairforge.weights import builtin_gguf

    if not builtin_gguf("smollm2-135m-instruct", fetch=False).is_file():
        pytest.skip("the built-in SmolLM2 is not fetched yet (make setup fetches it)")
    from pairforge.weights import materialise, resolve_model

    return materialise(resolve_model("smollm2-135m-instruct"))[0]


@pytest.fixture(scope="module")
def no_template_model(tiny_model, tmp_path_factory):
    """The tiny model as a base model: the same weights and tokenizer, no chat template."""
    folder = tmp_path_factory.mktemp("base-model") / "m"
    shutil.copytree(tiny_model, folder)
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    cfg = json.loads((folder / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg))
    assert _tokenizer(folder).chat_template is None
    return str(folder)


def test_smollm2_default_system_prompt_kept_replaced_or_dropped(smollm2_folder):
    tok = _tokenizer(smollm2_folder)
    user = CONV[1:]
    default = ChatRenderer(tok, "smol").render_one(user)
    assert default.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")  # today's behaviour
    assert ChatRenderer(tok, "smol").render_one(CONV).startswith("<|im_start|>system\nBe terse.<|im_end|>")
    none = ChatRenderer(tok, "smol", system_prompt="none")
    expected = "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert none.render_one(user) == none.render_one(CONV) == expected
    pirate = ChatRenderer(tok, "smol", system_prompt="You are a pirate.")
    assert pirate.render_one(CONV) == pirate.render_one(user) == \
        "<|im_start|>system\nYou are a pirate.<|im_end|>\n" + expected


def test_tiny_model_policies_and_custom_template(tiny_model):
    tok = _tokenizer(tiny_model)
    assert ChatRenderer(tok, "t").render_one(CONV).startswith("<|im_start|>system\nBe terse.<|im_end|>\n")
    assert ChatRenderer(tok, "t", "none").render_one(CONV) == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    custom = ChatRenderer(tok, "t", "Short answers.", chat_template=BRACKETS)
    assert custom.render_one(CONV) == "[system]Short answers.\n[user]hi\n[assistant]"
    assert ChatRenderer(tok, "t", "none", chat_template=BRACKETS).render_one(CONV) == "[user]hi\n[assistant]"
    assert CONV[0]["content"] == "Be terse."  # the caller's conversation is not changed


def test_broken_custom_template_is_one_clear_error(tiny_model):
    with pytest.raises(PairforgeError, match="weak_model.chat_template: cannot render"):
        ChatRenderer(_tokenizer(tiny_model), "t", chat_template="{% for m in messages %}{{ m.content }")


def _recipe(model, out, **weak):
    return tiny_recipe(model, {"path": DEMO, "limit": 8}, out, weak_model=weak, split={"test_size": 0.0})


def test_base_model_is_refused_naming_both_options_then_builds_with_a_template_file(no_template_model, tmp_path):
    with pytest.raises(PairforgeError) as e:
        run_build(recipe_from_dict(_recipe(no_template_model, tmp_path / "a")), quiet=True)
    assert "no chat template" in str(e.value)
    assert "weak_model.chat_template" in str(e.value) and "weak_model.system_prompt" in str(e.value)
    (tmp_path / "chatml.jinja").write_text(BRACKETS)
    path = write_recipe(tmp_path / "r.yaml", _recipe(no_template_model, tmp_path / "b", chat_template="chatml.jinja",
                                                     system_prompt="none"))
    r = load_recipe(path)
    assert r.weak_model.chat_template == BRACKETS  # the file's text, beside the recipe
    summary = run_build(r, quiet=True)
    assert summary["rows_written"] > 0
    assert "[assistant]" in (tmp_path / "b" / "recipe.yaml").read_text()


def test_system_prompt_changes_only_what_the_weak_model_sees(tiny_model, tmp_path):
    from pairforge.backends import make_backend

    r = recipe_from_dict(_recipe(tiny_model, tmp_path / "out", system_prompt="You are terse."))
    backend = make_backend(r.weak_model)
    assert backend._render([CONV])[0].startswith("<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user")
    run_build(r, quiet=True)
    train = datasets.load_dataset(str(tmp_path / "out"), split="train")
    src = [json.loads(line)["messages"] for line in open(DEMO)][:8]
    # the dataset's prompts are the source's conversations (their own system prompts, or none)
    assert {json.dumps(p) for p in train["prompt"]} <= {json.dumps(m[:-1]) for m in src}
    assert not any("You are terse." in m["content"] for p in train["prompt"] for m in p)


def test_options_are_fingerprinted(tmp_path):
    def fp(**weak):
        return fingerprint(recipe_from_dict(_recipe("m", tmp_path, **weak)), "src", "model")

    base = fp()
    assert len({base, fp(system_prompt="none"), fp(system_prompt="Be kind."), fp(chat_template=BRACKETS)}) == 4


def test_recipe_errors(tmp_path):
    with pytest.raises(RecipeError, match="weak_model.chat_template: 'missing.jinja' is neither"):
        recipe_from_dict(_recipe("m", tmp_path, chat_template="missing.jinja"))
    with pytest.raises(RecipeError, match="openai"):
        recipe_from_dict(_recipe("m", tmp_path, backend="openai", system_prompt="x",
                                 openai={"base_url": "http://127.0.0.1:9/v1"}))


def test_vllm_renders_through_the_same_chat_module(tiny_model, tmp_path):
    from pairforge.backends import make_backend
    from pairforge.backends.vllm_backend import vllm_status

    if not vllm_status()[0]:
        pytest.skip(f"vLLM not usable: {vllm_status()[1]}")
    r = recipe_from_dict(_recipe(tiny_model, tmp_path / "out", backend="vllm", system_prompt="Be kind.",
                                 chat_template=BRACKETS, vllm={"max_model_len": 512}))
    backend = make_backend(r.weak_model)
    assert backend._render([CONV]) == ["[system]Be kind.\n[user]hi\n[assistant]"]
    assert backend.prompt_token_counts([CONV])[0] == len(_tokenizer(tiny_model)("[system]Be kind.\n[user]hi\n[assistant]",
                                                                                 add_special_tokens=False)["input_ids"])
    # a prompt the template renders to nothing counts 0 tokens: generate_shard drops it (empty_prompt)
    # before the engine, as on the transformers backend
    backend.chat = ChatRenderer(backend.tokenizer, "t", chat_template="{% for m in messages %}{% endfor %}")
    assert backend.prompt_token_counts([CONV]) == [0]


def test_a_prompt_rendered_to_nothing_is_dropped_not_sent(tiny_model, tmp_path):
    """A template that writes nothing for a prompt crashed generate (IndexError on a 0-token input)
    and the dry run's sample (reshape); now such a row is dropped as empty_prompt, counted alike."""
    from pairforge.pipeline.dry_run import run_dry_run

    src = tmp_path / "s.jsonl"
    rows = [{"prompt": f"{'SILENT ' if i % 3 == 0 else ''}question number {i} about topic {i * 7}",
             "response": f"an answer {i}"} for i in range(9)]
    src.write_text("\n".join(json.dumps(r) for r in rows))
    quiet = "{% for m in messages %}{% if 'SILENT' not in m['content'] %}{{ m['content'] }}{% endif %}{% endfor %}"
    r = tiny_recipe(tiny_model, {"path": str(src)}, tmp_path / "out", weak_model={"chat_template": quiet},
                    dedupe={"near": {"enabled": False}}, split={"test_size": 0.0})
    dry = run_dry_run(recipe_from_dict(r), sample=4, quiet=True)
    assert dry["not_sent"] == {"empty_prompt": 3} and dry["prompts_to_send"] == 6
    s = run_build(recipe_from_dict(r), quiet=True)
    assert s["drops"]["generate"] == {"empty_prompt": 3} and s["rows_written"] == 6
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / "out" / "excluded" / "generate.parquet")["reason"].to_pylist() == ["empty_prompt"] * 3
    every = tiny_recipe(tiny_model, {"path": str(src)}, tmp_path / "out2", dedupe={"near": {"enabled": False}},
                        weak_model={"chat_template": "{% for m in messages %}{% endfor %}"})
    # a template that writes no message at all is no chat template: refused when the recipe loads
    with pytest.raises(PairforgeError, match="weak_model.chat_template: the template: the messages of a conversation"):
        run_build(recipe_from_dict(every), quiet=True)
