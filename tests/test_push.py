"""Build -> push -> load_dataset through the real huggingface_hub and datasets clients,
against the local Hub server (tests/hubserver.py)."""

import json
import uuid

import datasets
import pytest
from click.testing import CliRunner
from huggingface_hub import DatasetCard, HfApi

from conftest import ALICE, BOB, REPO, tiny_recipe
from pairforge.pipeline.build import run_build
from pairforge.cli import cli
from pairforge.recipe import recipe_from_dict

DEMO = str(REPO / "pairforge" / "demo" / "sft.jsonl")


@pytest.fixture(scope="module")
def built(tiny_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("push") / "out"
    run_build(recipe_from_dict(tiny_recipe(tiny_model, {"path": DEMO}, out)), quiet=True)
    return out


def name(prefix="alice"):
    return f"{prefix}/pairs-{uuid.uuid4().hex[:8]}"


def push(args, token=ALICE):
    res = CliRunner().invoke(cli, ["push", *args, "--token", token])
    return res


def local_rows(folder, split="train"):
    return sorted(datasets.load_dataset(str(folder), split=split).to_list(), key=lambda r: (r["id"], r["sample_index"]))


def hub_rows(repo, split="train", **kw):
    rows = datasets.load_dataset(repo, split=split, download_mode="force_redownload", **kw).to_list()
    return sorted(rows, key=lambda r: (r["id"], r["sample_index"]))


def test_push_then_load_dataset_by_repo_id(hub, built):
    repo = name()
    res = push([str(built), "--repo", repo])
    assert res.exit_code == 0, res.output
    assert f"Pushed 7 file(s) to {repo}@main" in res.output  # data (2), plot, card, recipe, stats, manifest
    dd = datasets.load_dataset(repo)
    assert set(dd) == {"train", "test"}
    assert hub_rows(repo) == local_rows(built)
    assert hub_rows(repo, "test") == local_rows(built, "test")
    files = HfApi(token=ALICE).list_repo_files(repo, repo_type="dataset")
    assert set(files) >= {"README.md", "recipe.yaml", "stats.json", "data/train-00000-of-00001.parquet",
                          "images/lengths.png"}  # the card shows the plot by a relative link
    # one commit for everything (plus the repo's initial commit)
    repo_state = hub.state.repos[("dataset", repo)]
    assert len(repo_state.commits) == 2


def test_card_parses_and_its_figures_equal_stats(hub, built):
    repo = name()
    assert push([str(built), "--repo", repo]).exit_code == 0
    card = DatasetCard.load(repo, repo_type="dataset")
    stats = json.loads((built / "stats.json").read_text())
    data = card.data.to_dict()
    assert {"dpo", "ipo", "preference", "synthetic"} <= set(data["tags"])
    assert data["configs"][0]["data_files"]
    splits = {s["name"]: s["num_examples"] for s in data["dataset_info"]["splits"]}
    assert splits == stats["splits"]
    text = card.text
    assert f"| read | {stats['rows_read']} |" in text
    for f in stats["funnel"]:
        assert f"| {f['stage']} | {f['rows']} |" in text
    assert stats["fingerprint"] in text and stats["weak_model"]["digest"].split(":", 1)[1] in text  # a digest, never a local path
    assert f'load_dataset("{repo}")' in text
    lp = stats["lengths"]["rejected"]
    assert f"| rejected | {lp['mean']} | {lp['p50']} | {lp['p90']} | {lp['max']} |" in text


def test_repush_is_a_noop_and_keeps_hand_edits(hub, built):
    repo = name()
    assert push([str(built), "--repo", repo]).exit_code == 0
    commits = len(hub.state.repos[("dataset", repo)].commits)
    res = push([str(built), "--repo", repo])
    assert res.exit_code == 0 and "already up to date" in res.output
    assert len(hub.state.repos[("dataset", repo)].commits) == commits
    # the owner edits the card by hand: metadata, a tag, prose before and after the generated part
    card = DatasetCard.load(repo, repo_type="dataset")
    card.data.license = "cc-by-4.0"
    card.data.tags = card.data.tags + ["my-own-tag"]
    card.data["homepage"] = "https://example.org/pairs"
    card.text = "Intro written by the owner.\n\n" + card.text + "\n\nOwner's closing notes.\n"
    card.push_to_hub(repo, repo_type="dataset", token=ALICE)
    # a rebuild with more rows, pushed again: generated parts refresh, the owner's parts stay
    stats = json.loads((built / "stats.json").read_text())
    res = push([str(built), "--repo", repo])
    assert res.exit_code == 0
    new = DatasetCard.load(repo, repo_type="dataset")
    assert new.data.license == "cc-by-4.0" and new.data["homepage"] == "https://example.org/pairs"
    # the body is rendered from the merged metadata: it names the owner's license, not the recipe's
    assert "`license: cc-by-4.0`" in new.text and "license: unknown" not in new.text
    assert "my-own-tag" in new.data.tags and "dpo" in new.data.tags
    assert new.text.strip().startswith("Intro written by the owner.") and "Owner's closing notes." in new.text
    assert new.text.count("<!-- pairforge:begin -->") == 1
    assert f"| written | {stats['rows_written']} |" in new.text


def test_push_to_branch_and_pr(hub, built):
    repo = name()
    res = push([str(built), "--repo", repo, "--revision", "v1"])
    assert res.exit_code == 0, res.output
    assert "revision='v1'" in res.output
    assert hub_rows(repo, revision="v1") == local_rows(built)
    refs = HfApi(token=ALICE).list_repo_refs(repo, repo_type="dataset")
    assert {b.name for b in refs.branches} == {"main", "v1"}
    assert "data/train-00000-of-00001.parquet" not in HfApi(token=ALICE).list_repo_files(repo, repo_type="dataset")
    res = push([str(built), "--repo", repo, "--create-pr", "-m", "proposed pairs"])
    assert res.exit_code == 0 and "/discussions/1" in res.output
    assert hub_rows(repo, revision="refs/pr/1") == local_rows(built)


def test_private_repo_is_invisible_to_others(hub, built):
    repo = name()
    assert push([str(built), "--repo", repo, "--private"]).exit_code == 0
    assert HfApi(token=ALICE).dataset_info(repo).private is True
    from huggingface_hub.errors import RepositoryNotFoundError

    with pytest.raises(RepositoryNotFoundError):
        HfApi(token=BOB).dataset_info(repo)
    with pytest.raises(Exception):
        datasets.load_dataset(repo, token=BOB)
    rows = datasets.load_dataset(repo, split="train", token=ALICE).to_list()
    assert len(rows) == len(local_rows(built))
    # bob cannot write to alice's namespace either
    res = push([str(built), "--repo", repo], token=BOB)
    assert res.exit_code == 1


def test_wrong_token_gives_one_clean_line(hub, built):
    res = push([str(built), "--repo", name()], token="hf_not_a_real_token")
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "401" in lines[0] and "HF_TOKEN" in lines[0]
    assert "hf_not_a_real_token" not in res.output


def test_failed_upload_leaves_no_partial_commit(hub, built):
    repo = name()
    assert push([str(built), "--repo", repo]).exit_code == 0
    state = hub.state.repos[("dataset", repo)]
    before = (dict(state.refs), len(state.commits))
    import pyarrow.parquet as pq

    train = built / "data" / "train-00000-of-00001.parquet"
    from pairforge.pipeline.publish import MANIFEST, PUBLISHED, file_entries

    manifest = built / MANIFEST
    original, original_manifest = train.read_bytes(), manifest.read_bytes()
    pq.write_table(pq.read_table(train), train, compression="gzip")  # same rows, new bytes: a new LFS upload
    manifest.write_text(json.dumps({**json.loads(original_manifest), "files": file_entries(built, PUBLISHED)}))
    try:
        hub.state.fail_lfs_upload = True
        res = push([str(built), "--repo", repo])
    finally:
        train.write_bytes(original)
        manifest.write_bytes(original_manifest)
    assert res.exit_code == 1 and "403" in res.output
    assert (dict(state.refs), len(state.commits)) == before
    assert hub_rows(repo) == local_rows(built)


def test_token_never_reaches_uploaded_files_or_output(hub, built):
    repo = name()
    res = push([str(built), "--repo", repo, "--json"])
    assert res.exit_code == 0 and ALICE not in res.output
    state = hub.state.repos[("dataset", repo)]
    head = state.commits[state.refs["main"]]
    for path, blob in head.files.items():
        assert ALICE.encode() not in blob.data, path
    for f in built.rglob("*"):
        if f.is_file():
            assert ALICE.encode() not in f.read_bytes(), f


def test_dry_run_touches_nothing(hub, built):
    repo = name()
    res = CliRunner().invoke(cli, ["push", str(built), "--repo", repo, "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "<!-- pairforge:begin -->" in res.stdout and "Would upload" in res.output
    assert ("dataset", repo) not in hub.state.repos


def test_hub_source_through_the_server(hub, built, tiny_model, tmp_path):
    """A pushed set can be the source of another build (source.hub through datasets)."""
    repo = name()
    assert push([str(built), "--repo", repo]).exit_code == 0
    out = tmp_path / "again"
    s = run_build(recipe_from_dict(tiny_recipe(tiny_model, {"hub": repo, "split": "train", "format": "plain",
                                                            "columns": {"prompt": "prompt.0.content",
                                                                        "response": "chosen.0.content"}}, out)), quiet=True)
    assert s["rows_read"] == len(local_rows(built))
    assert s["source"]["hub"] == repo
    # the source's own card license (here the pushed card's) is recorded and shown in the new card
    from huggingface_hub import DatasetCard

    license_ = DatasetCard.load(repo, repo_type="dataset", token=ALICE).data.license
    assert license_ and s["source"]["license"] == license_
    assert f"| Source license | {license_} |" in (out / "README.md").read_text()


def test_inspect_folder_and_repo(hub, built):
    repo = name()
    assert push([str(built), "--repo", repo]).exit_code == 0
    stats = json.loads((built / "stats.json").read_text())
    first = local_rows(built)[0]
    for target in (str(built), repo):
        res = CliRunner().invoke(cli, ["inspect", target, "-n", "40", "--token", ALICE])
        assert res.exit_code == 0, res.output
        assert "Funnel" in res.output and "Lengths (tokens)" in res.output
        assert f"{stats['rows_written']}" in res.output
        assert first["id"] in res.output  # every train pair shown with -n 40
    res = CliRunner().invoke(cli, ["inspect", "alice/nope-not-here"])
    assert res.exit_code == 1 and "404" in res.output


def test_file_changed_after_verify_is_not_pushed(hub, built, tmp_path, monkeypatch):
    """The bytes uploaded are the bytes checked: a file rewritten between verify() and the read is refused."""
    import shutil

    import pairforge.pipeline.publish as publish
    from pairforge.errors import PairforgeError
    from pairforge.hub.push import run_push

    copy = tmp_path / "copy"
    shutil.copytree(built, copy)
    real_verify = publish.verify

    def verify_then_change(out):
        import pyarrow.parquet as pq

        manifest = real_verify(out)
        train = out / "data" / "train-00000-of-00001.parquet"
        pq.write_table(pq.read_table(train).slice(1), train)  # a row lost after the check: still valid Parquet
        return manifest

    monkeypatch.setattr(publish, "verify", verify_then_change)
    repo = name()
    with pytest.raises(PairforgeError, match="train-00000-of-00001.parquet does not match"):
        run_push(copy, repo, token=ALICE)
    assert ("dataset", repo) not in hub.state.repos  # nothing created, nothing uploaded


def test_push_repo_from_the_build_recipe(hub, built, tmp_path):
    """No --repo: output.repo of the build's recipe.yaml, read by the library (the CLI only prints)."""
    import shutil

    import yaml

    from pairforge.hub.push import pr_revision
    from pairforge.pipeline.publish import MANIFEST, PUBLISHED, file_entries

    assert pr_revision("http://hub/datasets/a/b/discussions/12") == "refs/pr/12" and pr_revision(None) is None
    res = CliRunner().invoke(cli, ["push", str(built), "--token", ALICE])  # the fixture's recipe names no repo
    assert res.exit_code == 1 and res.output.strip() == (
        "Error: no repo: pass --repo user/name or set output.repo in the recipe"), res.output
    copy, repo = tmp_path / "copy", name()
    shutil.copytree(built, copy)
    recipe = yaml.safe_load((copy / "recipe.yaml").read_text())
    recipe["output"]["repo"] = repo
    (copy / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    manifest = json.loads((copy / MANIFEST).read_text())
    (copy / MANIFEST).write_text(json.dumps({**manifest, "files": file_entries(copy, PUBLISHED)}))
    res = CliRunner().invoke(cli, ["push", str(copy), "--token", ALICE])
    assert res.exit_code == 0 and f"to {repo}@main" in res.output and f"load_dataset('{repo}')" in res.output
    assert hub_rows(repo) == local_rows(built)


def test_hub_error_lines_never_carry_credentials():
    from pairforge.hub.errors import hub_error, unreachable

    class Boom(Exception):
        response = None

    e = Boom("proxy http://bob:s3cret@proxy.example:3128/ refused hf_alice_token_0123456789\nsecond line")
    line = str(hub_error(e, "alice/x", "read", secrets=(ALICE,)))
    assert "s3cret" not in line and "bob" not in line and ALICE not in line and "second line" not in line
    assert "http://***@proxy.example:3128/" in line and line.startswith("could not read alice/x: proxy")
    line = str(unreachable(OSError("connect to https://u:pw@hub.example/api failed"), "alice/x"))
    assert "pw@" not in line and "https://***@hub.example/api" in line
    token = ALICE + "\n"  # as an HTTP library quotes it: repr-escaped bytes
    line = str(unreachable(OSError(f"Illegal header value {('Bearer ' + token).encode()!r}"), "alice/x", secrets=(token,)))
    assert "hf_alice" not in line and "Illegal header value b'Bearer ***'" in line


def test_hub_csv_source_is_read_as_the_text_written(hub):
    """A CSV on the Hub reads as a local one: '0042' stays '0042' and 'NA' stays 'NA' (not 42, not null)."""
    from pairforge.data import sources
    from pairforge.data.formats import Normalise

    repo = name()
    api = HfApi(token=ALICE)
    api.create_repo(repo, repo_type="dataset")
    api.upload_file(path_or_fileobj=b"prompt,response\nWhat is 1?,0042\nNA,NA\n,empty prompt\n",
                    path_in_repo="train.csv", repo_id=repo, repo_type="dataset")
    for streaming in (False, True):
        r = recipe_from_dict({"source": {"hub": repo, "split": "train", "streaming": streaming}})
        loaded = sources.load_source(r)
        stage = Normalise.for_source(r.source, loaded.column_names)
        kept, dropped = [], []
        for batch in loaded.batches(7):
            k, d = stage(batch)
            kept += k.to_pylist()
            dropped += [(row["source_index"], row["reason"]) for row in d.to_pylist()]
        assert [(k["prompt"][0]["content"], k["chosen"]) for k in kept] == [("What is 1?", "0042"), ("NA", "NA")]
        assert dropped == [(2, "empty_prompt")]
