"""Checks of the chat templates a recipe gives (`weak_model.chat_template`, `output.chat_template`)
and the weak model's `system_prompt` at recipe load; backends/chat.py and output_layouts.py apply them."""

from __future__ import annotations

from .errors import RecipeError

# a conversation every chat template renders: each user message must appear in its output
PROBE = [{"role": "user", "content": "pairforge-probe-question-1"},
         {"role": "assistant", "content": "pairforge-probe-answer-1"},
         {"role": "user", "content": "pairforge-probe-question-2"}]


def is_jinja(text: str) -> bool:
    return "{%" in text or "{{" in text


def render_template(template: str, messages: list, where: str, **special_tokens) -> str:
    """`template` applied to `messages` with the generation prompt, in transformers' sandbox; a
    template that fails (a syntax error, an attribute the sandbox forbids, raise_exception) is a
    RecipeError naming `where`."""
    from transformers.utils.chat_template_utils import render_jinja_template

    try:
        out = render_jinja_template([messages], chat_template=template, add_generation_prompt=True, **special_tokens)
    except Exception as e:  # noqa: BLE001 — jinja2's TemplateError (SecurityError too) or what a template raises
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise RecipeError(f"{where}: the chat template cannot render a conversation ({type(e).__name__}: "
                          f"{first[:200]})") from None
    return (out[0] if isinstance(out, tuple) else out)[0]


def check_template(template: str, where: str, file=None) -> None:
    """A chat template must render a conversation: the probe's user messages appear in its output.
    `file`: the file it was read from (any readable file is not a template)."""
    text = render_template(template, PROBE, where)
    if not all(m["content"] in text for m in PROBE if m["role"] == "user"):
        what = f"the file {file} is not a chat template" if file else "the template"
        raise RecipeError(f"{where}: {what}: the messages of a conversation do not appear in what it renders; "
                          "give a Jinja chat template (a string or a file holding one) that writes each message")


def check_chat_options(r) -> None:
    """A chat_template that is not Jinja is a file: its text replaces the path, so the template's
    content (not its path) is in the resolved recipe and the fingerprint."""
    wm, t = r.weak_model, r.weak_model.chat_template
    if wm.backend == "openai" and (wm.system_prompt is not None or t is not None):
        raise RecipeError("weak_model.system_prompt/chat_template: not with backend openai (the server applies "
                          "its own chat template); use the transformers or vllm backend")
    f = None
    if t is not None and not is_jinja(t):
        f = r.resolve_path(t)
        if not f.is_file():
            raise RecipeError(f"weak_model.chat_template: {t!r} is neither a Jinja template nor a file")
        wm.chat_template = read_template(f, "weak_model.chat_template")
    if wm.chat_template is not None:
        check_template(wm.chat_template, "weak_model.chat_template", f)


def read_template(path, where: str) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise RecipeError(f"{where}: cannot read {path} ({getattr(e, 'strerror', None) or type(e).__name__})") from None
