"""Contract between tests/hubserver.py and the real Hub clients it stands in for.

The server was written against huggingface_hub 2.4.0 and datasets 5.2.0 (constraints.txt).
If a client upgrade changes the protocol, these tests fail loudly instead of the push tests
passing against a server that no longer resembles the Hub.
"""

import uuid

import datasets
import huggingface_hub
import pytest
from huggingface_hub import HfApi

from conftest import ALICE

PINNED = {"huggingface_hub": "2.4.0", "datasets": "5.2.0"}


def test_client_versions_are_the_ones_the_server_speaks():
    got = {"huggingface_hub": huggingface_hub.__version__, "datasets": datasets.__version__}
    assert got == PINNED, (
        f"Hub clients changed ({got} != {PINNED}): re-check tests/hubserver.py against the new clients' "
        "requests (see test_every_request_hits_a_route), then update PINNED and constraints.txt")


def test_every_request_hits_a_route(hub, tmp_path):
    """A full round trip (create, upload with LFS, branch, PR, tree, paths-info, download with
    Range, load_dataset) must use only endpoints the server implements."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    repo = f"alice/contract-{uuid.uuid4().hex[:6]}"
    api = HfApi(token=ALICE)
    hub.state.unrouted.clear()
    start = len(hub.state.requests)
    assert api.whoami()["name"] == "alice"
    api.create_repo(repo, repo_type="dataset")
    with pytest.raises(huggingface_hub.errors.HfHubHTTPError) as e:
        api.create_repo(repo, repo_type="dataset")
    assert e.value.response.status_code == 409
    pq.write_table(pa.table({"text": ["a", "b", "c"]}), tmp_path / "train-00000-of-00001.parquet")
    api.upload_file(path_or_fileobj=str(tmp_path / "train-00000-of-00001.parquet"),
                    path_in_repo="data/train-00000-of-00001.parquet", repo_id=repo, repo_type="dataset")
    api.create_branch(repo, repo_type="dataset", branch="dev")
    api.upload_file(path_or_fileobj=b"# card\n", path_in_repo="README.md", repo_id=repo, repo_type="dataset",
                    revision="dev", create_pr=True)
    files = api.list_repo_files(repo, repo_type="dataset")
    assert "data/train-00000-of-00001.parquet" in files
    [info] = api.get_paths_info(repo, ["data/train-00000-of-00001.parquet"], repo_type="dataset")
    assert info.lfs is not None and info.size == (tmp_path / "train-00000-of-00001.parquet").stat().st_size
    path = huggingface_hub.hf_hub_download(repo, "data/train-00000-of-00001.parquet", repo_type="dataset",
                                           cache_dir=str(tmp_path / "cache"))
    assert pq.read_table(path)["text"].to_pylist() == ["a", "b", "c"]
    assert datasets.load_dataset(repo, split="train")["text"] == ["a", "b", "c"]
    seen = {r.split(" ", 1)[0] + " " + r.split(" ", 1)[1].replace(repo, "{repo}") for r in hub.state.requests[start:]}
    assert hub.state.unrouted == [], f"requests the server does not implement: {hub.state.unrouted}"
    for needed in ("POST /api/repos/create", "POST /api/datasets/{repo}/preupload/main",
                   "POST /datasets/{repo}.git/info/lfs/objects/batch", "POST /api/datasets/{repo}/commit/main"):
        assert needed in seen, f"the client no longer calls {needed}: the upload protocol changed"


def test_errors_carry_x_error_code(hub):
    import urllib.error
    import urllib.request

    def status(url, headers=None):
        try:
            urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}))
        except urllib.error.HTTPError as e:
            return e.code, e.headers["X-Error-Code"]
        return 200, None

    assert status(f"{hub.url}/api/datasets/alice/does-not-exist") == (404, "RepoNotFound")
    assert status(f"{hub.url}/api/whoami-v2", {"Authorization": "Bearer wrong"}) == (401, "Unauthorized")
