"""The recipe's `output` section: where and in which layout the pairs are written, and the card's
license. A section of recipe.py's schema, kept in its own module (recipe.py imports it)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, Optional

from .config import Section, field_ as _f
from .errors import RecipeError

LAYOUT_HELP = ("conversational: prompt = messages, chosen/rejected = one assistant message each; "
               "standard: prompt rendered with the chat template, chosen/rejected strings; "
               "messages: chosen/rejected = whole conversations (prompt included); "
               "intel: system/question/chosen/rejected strings (Intel/orca_dpo_pairs)")


class Output(Section):
    dir: str = _f("out/demo", fp=False)
    format: Literal["conversational", "standard", "messages", "intel"] = _f("conversational", help=LAYOUT_HELP)
    chat_template: Optional[str] = _f(None, help="standard layout: a Jinja chat template, or a file holding one "
                                                 "(default: the weak model's tokenizer's template)")
    card: bool = _f(True, fp=False, help="render the dataset card (README.md) into the output folder")
    license: Optional[str] = _f(None, fp=False, help="card license, a Hub license id (apache-2.0, cc-by-4.0, other, ...); "
                                                     "default 'unknown'")
    license_name: Optional[str] = _f(None, fp=False, help="with license 'other': a short lowercase id (my-license-1.0)")
    license_link: Optional[str] = _f(None, fp=False, help="with license 'other': a URL, or LICENSE in the repo")
    language: list = _f(["en"], fp=False)
    pretty_name: Optional[str] = _f(None, fp=False)
    repo: Optional[str] = _f(None, fp=False, help="Hub repo for `pairforge push` when --repo is not given")


def validate_output(o: Output, backend: str, base_dir: str) -> None:
    """Cross-checks of the output section; reads `output.chat_template` from a file when it names one."""
    from .chat_options import check_template, read_template
    from .hub.licenses import HUB_LICENSES, LICENSE_NAME_RE

    if o.license is not None and o.license not in HUB_LICENSES:
        raise RecipeError(f"output.license: {o.license!r} is not a Hub license id (such as apache-2.0, mit, "
                          "cc-by-4.0, cc-by-nc-4.0, unknown; or 'other' with license_name and license_link)")
    if o.license == "other":
        if not o.license_name or not re.fullmatch(LICENSE_NAME_RE, o.license_name):
            raise RecipeError("output.license_name: with license 'other', give a short lowercase id without spaces "
                              f"(such as my-license-1.0), got {o.license_name!r}")
        if not o.license_link:
            raise RecipeError("output.license_link: with license 'other', link the license text (a URL, or LICENSE)")
    elif o.license_name or o.license_link:
        raise RecipeError("output.license_name / output.license_link: only with output.license 'other'")
    if o.chat_template and "{" not in o.chat_template:
        path = Path(o.chat_template).expanduser()
        path = path if path.is_absolute() or not (Path(base_dir) / path).exists() else Path(base_dir) / path
        if not path.is_file():
            raise RecipeError(f"output.chat_template: neither a Jinja template nor a file: {o.chat_template}")
        o.chat_template = read_template(path, "output.chat_template")
    else:
        path = None
    if o.chat_template and o.format != "standard":
        raise RecipeError(f"output.chat_template: only the 'standard' layout renders one (output.format is {o.format!r})")
    if o.chat_template:  # any readable file is not a template: it must render a conversation
        check_template(o.chat_template, "output.chat_template", path)
    if o.format == "standard" and backend == "openai" and not o.chat_template:
        raise RecipeError("output.chat_template: the 'standard' layout with backend 'openai' has no local tokenizer "
                          "to take the template from; give the served model's chat template")
