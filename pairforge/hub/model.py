"""Upload a model trained by train-ipo, with a model card that links its dataset, in one commit."""

from __future__ import annotations

from pathlib import Path

from .errors import hub_error, hub_token, network_errors, unreachable, xet_missing


def push_model(out: Path, cfg, summary: dict, token: str | None) -> str:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    from ..lineage import public_name, record_hub_id
    from .card import jinja_env

    lineage = record_hub_id(out, cfg.push_to_hub)  # travels with the model: pairforge_lineage.json
    card = jinja_env().get_template("model_card.md.j2").render(s=summary, cfg=cfg, base_model=lineage.get("base_model_hub"),
                                                               dataset_is_hub=not Path(cfg.dataset).is_dir())
    (out / "README.md").write_text(card)
    api = HfApi(token=(token := hub_token(token)))
    try:
        api.create_repo(cfg.push_to_hub, private=cfg.hub_private, exist_ok=True)
        info = api.upload_folder(repo_id=cfg.push_to_hub, folder_path=str(out),
                                 commit_message=f"pairforge train-ipo on {public_name(cfg.dataset)}")
    except HfHubHTTPError as e:
        raise hub_error(e, cfg.push_to_hub, "push the model to", secrets=(token,)) from None
    except network_errors() as e:  # the trained model is saved: say how to upload it later
        raise xet_missing(cfg.push_to_hub, "model", "main", token) or \
            unreachable(e, cfg.push_to_hub, f"upload the saved model: hf upload {cfg.push_to_hub} {out}",
                        secrets=(token,)) from None
    return info.oid
