"""The license ids the Hub accepts in card metadata (hub-docs docs/hub/repositories-licenses.md).

The one list: recipe validation (`output.license`) and the test Hub (tests/hubserver.py) both use it.
`other` needs `license_name` (a short lowercase id) and `license_link` (a URL or LICENSE file).
"""

HUB_LICENSES = (
    "apache-2.0", "mit", "openrail", "bigscience-openrail-m", "creativeml-openrail-m", "bigscience-bloom-rail-1.0",
    "bigcode-openrail-m", "afl-3.0", "artistic-2.0", "bsl-1.0", "bsd", "bsd-2-clause", "bsd-3-clause",
    "bsd-3-clause-clear", "c-uda", "cc", "cc0-1.0", "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0", "cc-by-sa-3.0",
    "cc-by-sa-4.0", "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0", "cc-by-nd-4.0", "cc-by-nc-nd-3.0",
    "cc-by-nc-nd-4.0", "cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0", "cdla-sharing-1.0",
    "cdla-permissive-1.0", "cdla-permissive-2.0", "wtfpl", "ecl-2.0", "epl-1.0", "epl-2.0", "etalab-2.0", "eupl-1.1",
    "eupl-1.2", "agpl-3.0", "gfdl", "gpl", "gpl-2.0", "gpl-3.0", "lgpl", "lgpl-2.1", "lgpl-3.0", "isc", "h-research",
    "intel-research", "lppl-1.3c", "ms-pl", "apple-ascl", "apple-amlr", "mpl-2.0", "odc-by", "odbl", "openmdw-1.0",
    "openmdw-1.1", "openrail++", "osl-3.0", "postgresql", "ofl-1.1", "ncsa", "unlicense", "zlib", "pddl", "lgpl-lr",
    "deepfloyd-if-license", "fair-noncommercial-research-license", "llama2", "llama3", "llama3.1", "llama3.2",
    "llama3.3", "llama4", "grok2-community", "gemma", "unknown", "other",
)

LICENSE_NAME_RE = r"[a-z0-9][a-z0-9._+-]*"


def card_license(info) -> str | None:
    """The license a Hub repo's card declares (a DatasetInfo/ModelInfo), as text; None when it has none."""
    data = getattr(info, "card_data", None) or getattr(info, "cardData", None) or {}
    lic = data.get("license") if hasattr(data, "get") else None
    if isinstance(lic, list):
        lic = ", ".join(str(x) for x in lic if x)
    return str(lic) if lic else None


def hub_model_license(repo_id: str, revision: str | None = None) -> str | None:
    """A Hub model's declared license, or None when the Hub cannot say (offline, gated, no card)."""
    from huggingface_hub import HfApi

    try:
        return card_license(HfApi().model_info(repo_id, revision=revision))
    except Exception:  # the card is a courtesy: no answer is no license shown, never a failed build
        return None
