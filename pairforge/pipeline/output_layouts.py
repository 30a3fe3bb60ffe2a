"""Output layouts: the shard rows (prompt = messages, chosen/rejected = strings) as the published
columns, in the shape a trainer already reads.

| layout           | columns                                              | read unchanged by                                 |
|------------------|------------------------------------------------------|---------------------------------------------------|
| `conversational` | prompt: messages; chosen, rejected: [assistant msg]  | TRL; axolotl `chat_template.default` + `field_messages: prompt`; alignment-handbook |
| `standard`       | prompt: the chat template applied (with generation prompt); chosen, rejected: strings | TRL; axolotl `passthrough` |
| `messages`       | chosen, rejected: the whole conversation, prompt included | TRL (implicit prompt); axolotl `chat_template.argilla_chat`; alignment-handbook |
| `intel`          | system, question, chosen, rejected: strings (Intel/orca_dpo_pairs) | axolotl `chatml.intel` / `llama3.intel` |

Every other column of the shard (id, source_index, token counts, finish reason, any score column)
passes through unchanged, after the layout's own columns; the source row a function judge was
given (`source_columns`) is not published.
"""

from __future__ import annotations

from typing import Callable

from ..data.schemas import SOURCE_COLUMNS
from ..errors import PairforgeError, RecipeError

LAYOUTS = ("conversational", "standard", "messages", "intel")
TEXT_COLUMNS = ("prompt", "chosen", "rejected")


def layout_columns(fmt: str) -> tuple[str, ...]:
    """The columns a layout writes itself (every other column passes through)."""
    return ("system", "question", "chosen", "rejected") if fmt == "intel" else \
        ("chosen", "rejected") if fmt == "messages" else TEXT_COLUMNS


def to_output_table(table, fmt: str, render_prompt: Callable[[list], str] | None = None):
    """Shard rows -> the published table in layout `fmt`. `render_prompt` (messages -> text) is the
    chat template, needed by the `standard` layout only."""
    import pyarrow as pa

    prompts = table["prompt"].to_pylist()
    chosen = table["chosen"].to_pylist()
    rejected = table["rejected"].to_pylist()
    if fmt == "conversational":
        data = _conversational(prompts, chosen, rejected)
    elif fmt == "messages":
        data = _messages(prompts, chosen, rejected)
    elif fmt == "standard":
        if render_prompt is None:
            raise PairforgeError("output.format standard: no chat template to render the prompt with")
        data = {"prompt": pa.array([render_prompt(p) for p in prompts], pa.string()),
                "chosen": pa.array(chosen, pa.string()), "rejected": pa.array(rejected, pa.string())}
    elif fmt == "intel":
        data = _intel(table, prompts, chosen, rejected)
    else:
        raise PairforgeError(f"output.format: unknown layout {fmt!r} (one of {', '.join(LAYOUTS)})")
    rest = {name: table[name] for name in table.column_names
            if name not in TEXT_COLUMNS and name not in data and name != SOURCE_COLUMNS}
    return pa.table({**data, **rest})


def _assistant(texts: list[str]) -> list:
    return [[{"role": "assistant", "content": t}] for t in texts]


def _conversational(prompts, chosen, rejected) -> dict:
    import pyarrow as pa

    from ..data.schemas import message_type

    return {"prompt": pa.array(prompts, message_type()),
            "chosen": pa.array(_assistant(chosen), message_type()),
            "rejected": pa.array(_assistant(rejected), message_type())}


def _messages(prompts, chosen, rejected) -> dict:
    import pyarrow as pa

    from ..data.schemas import message_type

    return {"chosen": pa.array([p + a for p, a in zip(prompts, _assistant(chosen))], message_type()),
            "rejected": pa.array([p + a for p, a in zip(prompts, _assistant(rejected))], message_type())}


def intel_problem(prompt: list[dict]) -> str | None:
    """Why the intel layout (one optional system prompt, one question) cannot hold `prompt`, or None."""
    turns = prompt[1:] if prompt and prompt[0]["role"] == "system" else prompt
    if len(turns) == 1 and turns[0]["role"] == "user":
        return None
    return (f"has a prompt of {len(turns)} turns besides the system prompt (earlier turns of a conversation); the "
            "intel layout holds one system prompt and one question")


def _intel(table, prompts, chosen, rejected) -> dict:
    """One optional system prompt and one question (layout_fit.py checked every prompt before generation)."""
    import pyarrow as pa

    system, question = [], []
    for i, p in enumerate(prompts):
        if why := intel_problem(p):
            raise PairforgeError(f"output.format intel: row {table['id'][i].as_py()} (source row "
                                 f"{table['source_index'][i].as_py()}) {why}: use output.format conversational or "
                                 "messages for multi-turn data")
        system.append(p[0]["content"] if p[0]["role"] == "system" else "")
        question.append(p[-1]["content"])
    return {"system": pa.array(system, pa.string()), "question": pa.array(question, pa.string()),
            "chosen": pa.array(chosen, pa.string()), "rejected": pa.array(rejected, pa.string())}


def template_renderer(chat_template: str, special_tokens: dict | None = None,
                      where: str = "output.chat_template") -> Callable[[list], str]:
    """messages -> the template applied with the generation prompt (transformers' own renderer, in
    its sandbox); a row the template cannot render is an error naming `where`."""
    from ..chat_options import render_template

    def render(messages: list) -> str:
        return render_template(chat_template, messages, where, **(special_tokens or {}))

    return render


def prompt_renderer(output, model_ref) -> Callable[[list], str] | None:
    """The `standard` layout's renderer: `output.chat_template` if set, else the weak model's
    tokenizer's template; the tokenizer's special tokens (bos/eos) either way where it loads."""
    if output.format != "standard":
        return None
    tok = None
    if model_ref is not None and not model_ref.digest.startswith("served:"):
        from transformers import AutoTokenizer

        from ..weights import materialise

        path, kwargs = materialise(model_ref)
        tok = AutoTokenizer.from_pretrained(path, **kwargs)
    template = output.chat_template or (tok.chat_template if tok is not None else None)
    if not template:
        raise RecipeError("output.format standard: the weak model's tokenizer has no chat template to render the "
                          "prompt column with; set output.chat_template (a Jinja template or a file)")
    specials = {k: v for k, v in (tok.special_tokens_map.items() if tok is not None else ()) if isinstance(v, str)}
    where = "output.chat_template" if output.chat_template else "the weak model's chat template"
    render, bos = template_renderer(template, specials, where), _added_bos(tok)
    if not bos:
        return render
    # TRL tokenises a standard prompt with the tokenizer's special tokens: a template's own BOS would be doubled
    def without_bos(messages: list) -> str:
        text = render(messages)
        return text[len(bos):] if text.startswith(bos) else text

    return without_bos


def _added_bos(tok) -> str | None:
    """The BOS text a tokenizer puts before any text it encodes by itself (Llama's <s>), else None."""
    bos, bos_id = getattr(tok, "bos_token", None), getattr(tok, "bos_token_id", None)
    if tok is None or not bos or bos_id is None:
        return None
    try:
        return bos if tok("a").input_ids[:1] == [bos_id] else None
    except Exception:  # noqa: BLE001 — a tokenizer that cannot encode here: leave the prompt as rendered
        return None
