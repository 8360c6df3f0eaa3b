"""`fairtrain snapshot pull`: bring a local snapshot directory to a registry's newest state over HTTP.

The registry's chain (``/api/snapshots/chain``) names its newest full snapshot and the deltas after it.
Only what the directory lacks is fetched: a fresh directory gets the full snapshot, then the deltas; a
directory already on the chain only the deltas after its own state. Every manifest's signature is checked
against the trusted registry keys before any file it lists is fetched, every file against its SHA-256,
and each delta against the snapshot it applies to (see ``core.snapshot_delta``).

Nothing is changed in place. Downloads go to ``.DIR.pull/`` beside DIR (resumed with range requests after
an interruption), the new state is built there, moved to ``.DIR.states/ID`` and swapped in by replacing
the symbolic link DIR with one rename, so DIR is at every moment either the previous snapshot or the new
one, both whole and verified.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from fairtrain.core.errors import IntegrityFailure
from fairtrain.core.keys import PublicKey, SignatureError, verify_document
from fairtrain.core.snapshot import MANIFEST, Snapshot, SnapshotError, file_sha256, verify_delta, verify_snapshot
from fairtrain.core.snapshot_delta import apply_delta


class PullError(IntegrityFailure):
    """The registry could not be reached, or answered something that is not a snapshot chain."""


Progress = Callable[[str, int, int | None], None]  # (what, bytes done, bytes in all if known)


def pull(
    url: str,
    target: Path,
    trusted: list[PublicKey],
    *,
    progress: Progress | None = None,
    timeout: float = 60.0,
) -> dict:
    """Bring ``target`` to the newest state ``url`` publishes; returns a summary (what was fetched, the
    snapshot id before and after)."""
    if not trusted:
        raise SnapshotError("no trusted registry key: a pulled snapshot could not be checked against anything")
    target = Path(target)
    work = target.with_name(f".{target.name}.pull")
    states = target.with_name(f".{target.name}.states")
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target.with_name(f".{target.name}.lock")):
        return _pull(url.rstrip("/"), target, work, states, trusted, progress, timeout)


@contextmanager
def _locked(path: Path):
    """One pull at a time into a directory (a second one is refused, not queued)."""
    import fcntl

    with path.open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PullError(f"another `snapshot pull` is updating {path.name[1:-5]} now") from None
        yield


def _pull(base_url, target, work, states, trusted, progress, timeout) -> dict:
    import httpx

    current = _current(target, trusted)
    with httpx.Client(timeout=timeout, follow_redirects=True) as client:
        try:
            r = client.get(f"{base_url}/api/snapshots/chain")
        except httpx.HTTPError as e:
            raise PullError(f"{base_url}: cannot fetch the snapshot chain ({e})") from None
        if r.status_code != 200:
            raise PullError(f"{base_url}/api/snapshots/chain: HTTP {r.status_code}")
        try:
            index = r.json()
            full = index["full"]
            deltas = list(index["deltas"])
        except (ValueError, KeyError, TypeError):
            raise PullError(f"{base_url}/api/snapshots/chain: not a snapshot chain") from None
        if full is None:
            raise PullError(f"{base_url}: the registry publishes no snapshot")
        summary = {
            "url": base_url,
            "path": str(target),
            "from": current.snapshot_id if current else None,
            "full_downloaded": False,
            "deltas_applied": 0,
            "bytes_downloaded": 0,
        }
        ids = [full["snapshot_id"]] + [d["result"] for d in deltas]
        if current is not None and current.snapshot_id in ids:
            base, todo = current, deltas[ids.index(current.snapshot_id) :]
        else:
            base, todo = None, deltas
        if base is not None and not todo:
            shutil.rmtree(work, ignore_errors=True)
            return {**summary, "snapshot_id": current.snapshot_id, "up_to_date": True, "counts": _counts(current)}
        work.mkdir(parents=True, exist_ok=True)
        fetch = _Fetcher(client, base_url, work, trusted, progress)
        if base is None:
            base = verify_snapshot(fetch.snapshot(full["name"]), trusted)
            summary["full_downloaded"] = True
        for step in todo:
            delta = verify_delta(fetch.snapshot(step["name"]), trusted)
            built = work / f"state-{delta.manifest['result'][:16]}"
            shutil.rmtree(built, ignore_errors=True)
            if progress:
                progress(f"applying {step['name']}", 0, None)
            base = apply_delta(base, delta, built, trusted)
            summary["deltas_applied"] += 1
        summary["bytes_downloaded"] = fetch.downloaded
    sid, counts = base.snapshot_id, _counts(base)  # verified where it was built; moved whole
    _swap_in(base.path, target, states, sid)
    shutil.rmtree(work, ignore_errors=True)
    return {**summary, "snapshot_id": sid, "up_to_date": False, "counts": counts}


def _counts(snap: Snapshot) -> dict:
    return snap.manifest.get("counts", {})


def _current(target: Path, trusted: list[PublicKey]) -> Snapshot | None:
    """The snapshot DIR holds now, verified; None where there is none yet (or what is there does not verify:
    the pull then fetches the whole snapshot and replaces it)."""
    if not (target / MANIFEST).is_file():
        return None
    try:
        return verify_snapshot(target, trusted)
    except SnapshotError:
        return None


def _swap_in(built: Path, target: Path, states: Path, snapshot_id: str) -> None:
    """Make ``target`` the snapshot at ``built``: moved into ``states`` and linked with one atomic rename."""
    states.mkdir(parents=True, exist_ok=True)
    home = states / snapshot_id[:32]
    if home.resolve() != built.resolve():
        shutil.rmtree(home, ignore_errors=True)
        os.replace(built, home)
    link = target.with_name(f".{target.name}.link")
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(os.path.relpath(home, target.parent), link)
    if target.exists() and not target.is_symlink():
        # a directory from before (not made by a pull): moved aside first, so for this one swap DIR is
        # briefly absent; every later pull swaps a link in one rename
        os.replace(target, states / f"replaced-{os.getpid()}")
    os.replace(link, target)
    for old in states.iterdir():  # the previous state, and leftovers of an interrupted pull
        if old.name != home.name:
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() and not old.is_symlink() else old.unlink()


class _Fetcher:
    """Downloads a published snapshot's manifest, checks its signature, then every file it lists (those
    already complete from an interrupted pull are kept; a partial one is resumed with a range request)."""

    def __init__(self, client, base_url: str, work: Path, trusted: list[PublicKey], progress: Progress | None):
        self.client, self.base_url, self.work, self.trusted, self.progress = client, base_url, work, trusted, progress
        self.downloaded = 0

    def snapshot(self, name: str) -> Path:
        if "/" in name or name.startswith("."):
            raise PullError(f"{self.base_url}: the chain names a snapshot {name!r} that is not a plain name")
        d = self.work / "download" / name
        d.mkdir(parents=True, exist_ok=True)
        url = f"{self.base_url}/api/snapshots/{name}/files"
        r = self.client.get(f"{url}/{MANIFEST}")
        if r.status_code != 200:
            raise PullError(f"{url}/{MANIFEST}: HTTP {r.status_code}")
        try:
            doc = json.loads(r.content)
            verify_document(doc, self.trusted)
        except (ValueError, SignatureError) as e:
            raise SnapshotError(f"{name}/{MANIFEST}: {e}") from None
        files = doc.get("files", [])
        total = sum(int(f.get("bytes", 0)) for f in files)
        done = 0
        for f in files:
            rel = str(f.get("path", ""))
            if not rel or rel.startswith("/") or ".." in Path(rel).parts or rel == MANIFEST:
                raise SnapshotError(f"{name}/{MANIFEST}: file path {rel!r} leaves the snapshot directory")
            self._file(f"{url}/{rel}", d / rel, f, name)
            done += int(f["bytes"])
            if self.progress:
                self.progress(f"fetching {name}", done, total)
        (d / MANIFEST).write_bytes(r.content)  # last: a directory with a manifest is complete
        return d

    def _file(self, url: str, path: Path, f: dict, name: str) -> None:
        size, sha = int(f["bytes"]), f["sha256"]
        path.parent.mkdir(parents=True, exist_ok=True)
        have = path.stat().st_size if path.is_file() else 0
        if have == size and file_sha256(path) == sha:
            return
        if have >= size:
            path.unlink()
            have = 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        with self.client.stream("GET", url, headers=headers) as r:
            if r.status_code == 200:
                have, mode = 0, "wb"
            elif r.status_code == 206 and have:
                mode = "ab"
            else:
                raise PullError(f"{url}: HTTP {r.status_code}")
            with path.open(mode) as out:
                for chunk in r.iter_bytes(1 << 16):
                    have += len(chunk)
                    if have > size:  # never more than the signed manifest says
                        raise SnapshotError(f"{name}/{path.name}: longer than the {size:,} bytes the manifest says")
                    out.write(chunk)
                    self.downloaded += len(chunk)
                out.flush()
                os.fsync(out.fileno())
        if path.stat().st_size != size or file_sha256(path) != sha:
            path.unlink(missing_ok=True)
            raise SnapshotError(f"{name}/{path.name}: SHA-256 does not match the signed manifest (tampered in transit)")
