"""Model folders for the benchmark: SmolLM2 from pairforge's built-in weights, or a tiny random model.

`smollm2_folder` is the only place that touches pairforge's Python API, and it does so in a
subprocess: pairforge is being re-laid out, and the helper may move (likely `pairforge.weights`).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SMOLLM2 = "smollm2-135m-instruct"


def smollm2_folder() -> str:
    """A safetensors folder of SmolLM2-135M-Instruct (pairforge converts its GGUF once, then caches)."""
    code = (
        "import importlib\n"
        "for name in ('pairforge.weights', 'pairforge.models'):\n"
        "    try:\n"
        "        m = importlib.import_module(name); m.materialise; m.resolve_model; break\n"
        "    except (ImportError, AttributeError):\n"
        "        m = None\n"
        f"print(m.materialise(m.resolve_model({SMOLLM2!r}))[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"cannot materialise {SMOLLM2}: {out.stderr.strip()[-2000:]}")
    return out.stdout.strip().splitlines()[-1]


CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tiny_model(folder: Path, corpus: list[str]) -> str:
    """A Llama-architecture model with hidden size 64, 2 layers, one 64-wide head, random weights and
    a byte-level BPE tokenizer trained on `corpus`, with a ChatML template (as tests/conftest.py)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = Path(folder)
    if (folder / "config.json").is_file():
        return str(folder)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=512, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", unk_token=None)
    fast.chat_template = CHATML
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=1, num_key_value_heads=1, max_position_embeddings=2048,
                      bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
                      pad_token_id=fast.pad_token_id, tie_word_embeddings=True)
    model = LlamaForCausalLM(cfg)
    model.generation_config.eos_token_id = fast.eos_token_id
    model.generation_config.pad_token_id = fast.pad_token_id
    model.save_pretrained(folder)
    return str(folder)
