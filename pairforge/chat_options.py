"""Checks of the weak model's chat options (`weak_model.system_prompt`, `weak_model.chat_template`)
at recipe load; backends/chat.py applies them."""

from __future__ import annotations

from .errors import RecipeError


def is_jinja(text: str) -> bool:
    return "{%" in text or "{{" in text


def check_chat_options(r) -> None:
    """A chat_template that is not Jinja is a file: its text replaces the path, so the template's
    content (not its path) is in the resolved recipe and the fingerprint."""
    wm, t = r.weak_model, r.weak_model.chat_template
    if wm.backend == "openai" and (wm.system_prompt is not None or t is not None):
        raise RecipeError("weak_model.system_prompt/chat_template: not with backend openai (the server applies "
                          "its own chat template); use the transformers or vllm backend")
    if t is not None and not is_jinja(t):
        f = r.resolve_path(t)
        if not f.is_file():
            raise RecipeError(f"weak_model.chat_template: {t!r} is neither a Jinja template nor a file")
        wm.chat_template = f.read_text()
