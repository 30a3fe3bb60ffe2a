"""Publishing a build's result whole, and one build at a time per output folder.

A build writes data/, excluded/, images/, stats.json, recipe.yaml and README.md into a staging folder
(`.pairforge_work/publish/`); the previous result (files and manifest) stays whole and valid until the new
one is complete. Only then does `commit` remove the old manifest, swap the staged files into place,
and write `pairforge.manifest.json` LAST: every final file with its size and sha256, the fingerprint
and the pairforge version. A folder whose manifest is missing or does not match its files is not a
finished build (a kill during the swap, a hand edit): `push`, `train-ipo` and `inspect` refuse it,
and a rerun repairs it. A build that fails before the swap (no pairs left, a bad input, a full
disk) leaves the previous result as it was.

`lock_output` takes an flock on `output.dir/.pairforge.lock` for the build's lifetime: the OS
releases it when the process dies, so a killed build leaves no stale lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path

from ..errors import PairforgeError, RecipeError
from ..io import atomic_write_json
from .shards import LEGACY_WORK, WORK, is_legacy_work

MANIFEST = "pairforge.manifest.json"
LOCK = ".pairforge.lock"
STAGE = Path(WORK) / "publish"
PUBLISHED = ("data", "excluded", "images", "stats.json", "recipe.yaml", "README.md")
KILL_ENV = "PAIRFORGE_TEST_KILL_AT"


def kill_point(name: str) -> None:
    """Tests only: SIGKILL this process at a named point when PAIRFORGE_TEST_KILL_AT=name."""
    if os.environ.get(KILL_ENV) == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def prepare_output(out: Path) -> None:
    """Create output.dir, with an error naming the problem when it cannot be a folder."""
    if out.exists() and not out.is_dir():
        raise PairforgeError(f"output.dir {out} is a file, not a folder; set output.dir to a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".pairforge-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise PairforgeError(f"output.dir {out}: cannot write there ({e.strerror or e}); set output.dir to a "
                             "folder you can write") from None


def check_no_build_running(out: Path) -> None:
    """Refuse to read a folder a build holds the lock of (its result is not there yet, or is being
    replaced): one line naming the build's pid, instead of 'not a build folder'."""
    import fcntl

    try:
        with open(out / LOCK) as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                holder = fh.read().strip() or "unknown"
                raise PairforgeError(f"{out}: a pairforge build is running there (pid {holder}); wait for it to "
                                     "finish") from None
    except OSError:  # no lock file (or none readable): no build holds it
        return


@contextlib.contextmanager
def lock_output(out: Path):
    """An exclusive flock on out/.pairforge.lock for the block; refused at once if another holds it."""
    import fcntl

    try:
        fh = open(out / LOCK, "a+")
    except OSError as e:  # a folder (or anything not a file) in its place, a read-only output.dir
        raise PairforgeError(f"output.dir {out}: cannot open its lock file {LOCK} ({e.strerror or type(e).__name__}); "
                             f"remove whatever is at {out / LOCK} (pairforge makes it), or set another output.dir") from None
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.seek(0)
        holder = fh.read().strip() or "unknown"
        fh.close()
        raise PairforgeError(f"output.dir {out} is in use by another pairforge build (pid {holder}); wait for it "
                             "to finish, or set another output.dir") from None
    fh.seek(0)
    fh.truncate()
    fh.write(str(os.getpid()))
    fh.flush()
    try:
        yield
    finally:
        fh.close()


def check_not_inside_source(recipe) -> None:
    """Refuse a build that would delete or read back the user's files: an input (source.path, a local
    source.hub folder, a local decontaminate set) inside what a build replaces (out/data, excluded,
    images, the work folder, or a published file), output.dir equal to or inside an input folder, or an
    existing output.dir that pairforge never built but that holds published names."""
    out = Path(recipe.output.dir).expanduser().resolve()
    for what, given, path in _inputs(recipe):
        if path.is_dir() and (out == path or path in out.parents):
            raise RecipeError(f"output.dir: {recipe.output.dir} is inside the source folder {path} ({what}: {given}); "
                              "a later build would read its own output as input: set output.dir outside it")
        owned = [out / n for n in REPLACED]
        if any(path == o or o in path.parents for o in owned) or path in (out / n for n in OWNED_FILES):
            raise RecipeError(f"{what}: {given} is inside output.dir {recipe.output.dir}, where a build replaces "
                              f"{path.relative_to(out).parts[0]}: move it out of {out}, or set output.dir to "
                              "another folder")
    check_not_foreign(out)


REPLACED = ("data", "excluded", "images", WORK, LEGACY_WORK)  # folders a build writes or replaces (_work: adopts)
OWNED_FILES = ("stats.json", "recipe.yaml", "README.md", MANIFEST, LOCK)


def _inputs(recipe):
    """(field, as written, resolved path) of every local input of the recipe."""
    found = []
    if recipe.source.path:
        found.append(("source.path", recipe.source.path, recipe.resolve_path(recipe.source.path)))
    if recipe.source.hub and Path(recipe.source.hub).expanduser().is_dir():
        found.append(("source.hub", recipe.source.hub, Path(recipe.source.hub).expanduser()))
    for i, ev in enumerate(recipe.decontaminate.sets):
        if getattr(ev, "path", None):
            found.append((f"decontaminate.sets[{i}].path", ev.path, recipe.resolve_path(ev.path)))
        elif getattr(ev, "hub", None) and Path(ev.hub).expanduser().is_dir():
            found.append((f"decontaminate.sets[{i}].hub", ev.hub, Path(ev.hub).expanduser()))
    return [(what, given, path.expanduser().resolve()) for what, given, path in found]


def check_not_foreign(out: Path) -> None:
    """A folder with published names but neither a manifest nor a work folder holds the user's files, not a build."""
    if not out.is_dir() or (out / MANIFEST).exists() or (out / WORK).exists() or is_legacy_work(out):
        return
    present = [n for n in PUBLISHED if (out / n).exists() or (out / n).is_symlink()]
    if present:
        raise PairforgeError(f"output.dir {out} holds {', '.join(present)} but is not a pairforge build folder "
                             f"(no {MANIFEST}, no {WORK}/); a build would replace them: set output.dir to a new "
                             "or empty folder, or move those files out")


def check_no_links(out: Path) -> None:
    """Refuse a build folder whose data/, excluded/, images/ or work folder (or a folder in it) is a
    symbolic link: a build deletes and replaces those, and never follows a link to do it."""
    for rel in (*(r for r in REPLACED if r != LEGACY_WORK), *(f"{WORK}/{d}" for d in WORK_SUBDIRS)):
        if (out / rel).is_symlink():
            raise PairforgeError(f"output.dir {out}: {out / rel} is a symbolic link (to {os.readlink(out / rel)}); "
                                 "a build replaces that folder and will not follow a link to delete it: remove the "
                                 "link, or set output.dir to another folder")


WORK_SUBDIRS = ("publish", "replaced", "shards", "input", "finished", "judged")


def begin(out: Path) -> Path:
    """Start a build's publish: an empty staging folder. The previous result (files and manifest)
    is not touched: it stays valid until `commit` swaps the new one in."""
    stage = out / STAGE
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    return stage


def os_error(out: Path, e: OSError) -> PairforgeError:
    """An OS error met while building into `out`, as one line: the path and the OS's reason."""
    where = e.filename or out
    reason = e.strerror or str(e) or type(e).__name__
    return PairforgeError(f"building into output.dir {out} failed: {where}: {reason}; fix that (e.g. free disk "
                          "space) and rerun the build (a previous result is kept until a new one is complete)")


def public_source(recipe, loaded) -> tuple[str, str | None]:
    """(description, hub) of the source as stats.json publishes them: a Hub dataset by its id, a
    local file or folder by its name and content digest, never its path."""
    s, digest = recipe.source, loaded.digest.rsplit(":", 1)[-1]
    if s.hub and not Path(s.hub).expanduser().is_dir():
        return loaded.description, s.hub
    path = Path(s.hub).expanduser() if s.hub else recipe.resolve_path(s.path)
    return f"{path.resolve().name} (local {'folder' if path.is_dir() else 'file'}, sha256 {digest})", None


def with_model_name(table, name: str):
    """The table with every row's rejected_model set to `name` (shards made before the name was
    public hold a local path there)."""
    import pyarrow as pa

    if "rejected_model" not in table.column_names:
        return table
    column = pa.array([name] * table.num_rows, pa.string())
    return table.set_column(table.column_names.index("rejected_model"), "rejected_model", column)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def file_entries(root: Path, names) -> dict:
    """{relative path: {size, sha256}} of every file under the given names (files or folders)."""
    entries = {}
    for name in names:
        p = root / name
        for f in sorted(p.rglob("*")) if p.is_dir() else [p] if p.is_file() else []:
            if f.is_file():
                entries[f.relative_to(root).as_posix()] = {"size": f.stat().st_size, "sha256": _sha256(f)}
    return entries


def commit(out: Path, stage: Path, fingerprint: str, version: str) -> None:
    """Swap the staged result into place, then write the manifest (last). The old manifest goes
    first: from here until the new one is written, the folder is refused (a rerun repairs it)."""
    (out / MANIFEST).unlink(missing_ok=True)
    kill_point("finalise")
    trash = out / WORK / "replaced"
    if trash.exists():
        shutil.rmtree(trash)
    trash.mkdir()
    for name in PUBLISHED:
        new, old = stage / name, out / name
        if old.exists():
            os.replace(old, trash / name)
        if new.exists():
            os.replace(new, old)
        kill_point(f"publish:{name}")
    shutil.rmtree(trash)
    shutil.rmtree(stage, ignore_errors=True)
    manifest = {"pairforge_version": version, "fingerprint": fingerprint,
                "files": file_entries(out, PUBLISHED)}
    atomic_write_json(out / MANIFEST, manifest)


def verify(out: Path) -> dict:
    """The manifest of a finished build folder, or an error saying it is not one and how to fix it."""
    fix = f"rerun `pairforge build RECIPE` with output.dir {out} to finish it"
    path = out / MANIFEST
    if not out.is_dir():
        raise PairforgeError(f"{out}: no such folder")
    check_no_build_running(out)
    if not path.is_file():
        raise PairforgeError(f"{out} is not a finished pairforge build (no {MANIFEST}: the build was "
                             f"interrupted, or is still running); {fix}")
    try:
        manifest = json.loads(path.read_text())
        files = manifest["files"]
        listed = {p: (int(e["size"]), str(e["sha256"])) for p, e in files.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise PairforgeError(f"{out}/{MANIFEST} is unreadable; {fix}") from None
    actual = file_entries(out, PUBLISHED)
    for p in sorted(set(listed) | set(actual)):
        if p not in actual:
            why = f"{p} is missing"
        elif p not in listed:
            why = f"{p} is not in the manifest"
        elif (actual[p]["size"], actual[p]["sha256"]) != listed[p]:
            why = f"{p} changed since the build"
        else:
            continue
        raise PairforgeError(f"{out} does not match its {MANIFEST} ({why}); {fix}")
    return manifest
