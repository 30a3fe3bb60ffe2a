"""How a prompt is shown to the weak model: the one place that renders chat prompts to text.

`weak_model.system_prompt` is a policy applied to the weak model's copy of the conversation only
(the dataset's prompt column is never touched):
  null (default)  the conversation as it is; the template adds its own default system prompt
                  where it has one (SmolLM2: "You are a helpful AI assistant named SmolLM, ...")
  "none"          no system prompt at all: the conversation's system turns are dropped and the
                  template's default system turn is removed from the rendered text
  any other text  replaces the conversation's system prompt
`weak_model.chat_template` (a Jinja string; recipe.py reads a file path into it) replaces the
model's own template, and gives one to a model that has none (a base model).
"""

from __future__ import annotations

from ..errors import PairforgeError

NONE = "none"


def apply_system_prompt(messages: list[dict], policy: str | None) -> list[dict]:
    """The conversation the weak model sees under `policy` (a new list; the input is not changed)."""
    if policy is None:
        return list(messages)
    rest = [m for m in messages if m["role"] != "system"]
    if policy == NONE:
        return rest
    return [{"role": "system", "content": policy}, *rest]


class ChatRenderer:
    """Renders conversations with the tokenizer's chat template (or the recipe's) under the
    recipe's system-prompt policy. Backends call `render`; nothing else applies a template."""

    def __init__(self, tokenizer, model_name: str, system_prompt: str | None = None,
                 chat_template: str | None = None):
        self.tokenizer = tokenizer
        self.policy = system_prompt
        self.template = chat_template or getattr(tokenizer, "chat_template", None)
        if not self.template:
            raise PairforgeError(
                f"weak_model.model: {model_name!r} has no chat template (a base model?); give one with "
                "weak_model.chat_template (a Jinja string or a template file path), and choose the system "
                "prompt with weak_model.system_prompt (text, or none)")
        self._empty_system_turn = None
        self.render([[{"role": "user", "content": "Hello"}]])  # a broken template fails here, not mid-build

    def _apply(self, messages: list[dict], generation_prompt: bool = True) -> str:
        try:
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt,
                                                      chat_template=self.template)
        except Exception as e:  # jinja2 TemplateError, or a template that raises on a role it refuses
            what = "weak_model.chat_template" if self.template is not getattr(self.tokenizer, "chat_template", None) \
                else "weak_model.model's chat template"
            hint = "; the template refuses system turns: try weak_model.system_prompt=none" \
                if any(m["role"] == "system" for m in messages) else ""
            raise PairforgeError(f"{what}: cannot render a prompt ({type(e).__name__}: "
                                 f"{str(e).splitlines()[0] if str(e) else ''}){hint}") from None

    def _without_system_turn(self, messages: list[dict]) -> str:
        """Render with an empty system turn, then cut that turn out: the template's default system
        prompt is gone, whatever text it would have injected. A template that will not take a
        system turn renders the conversation as is."""
        try:
            if self._empty_system_turn is None:
                self._empty_system_turn = (self._apply([{"role": "system", "content": ""}], False),
                                           self._preamble())
            turn, preamble = self._empty_system_turn
            text = self._apply([{"role": "system", "content": ""}, *messages])
        except PairforgeError:
            return self._apply(messages)
        if turn != preamble and turn.startswith(preamble) and text.startswith(turn):
            return preamble + text[len(turn):]
        return text  # the empty turn cannot be isolated: keep it (still no default text)

    def _preamble(self) -> str:
        """What the template writes before any turn (e.g. a BOS token), or '' if it needs a turn."""
        try:
            return self._apply([], False)
        except PairforgeError:
            return ""

    def render_one(self, messages: list[dict]) -> str:
        messages = apply_system_prompt(messages, self.policy)
        if self.policy == NONE:
            return self._without_system_turn(messages)
        return self._apply(messages)

    def render(self, prompts: list[list[dict]]) -> list[str]:
        return [self.render_one(p) for p in prompts]


def renderer_for(tokenizer, cfg, model_name: str) -> ChatRenderer:
    """The renderer for a recipe's weak model section."""
    return ChatRenderer(tokenizer, model_name, system_prompt=cfg.system_prompt, chat_template=cfg.chat_template)
