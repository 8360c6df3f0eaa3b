"""Published snapshots (``data_dir/snapshots/NAME/``): the list, a file only when its manifest lists it,
a snapshot verified against the registry's keys, and generated outputs checked against one. The web's
``/api/snapshots`` and ``/api/outputs/check`` answer from here."""

from __future__ import annotations

import json
from pathlib import Path

from fairtrain.core.errors import Conflict, FairtrainError
from fairtrain.core.snapshot import SnapshotError, verify_snapshot


class Unpublished(FairtrainError, LookupError):
    """No published snapshot by that name, or no such file in it."""

    http_status = 404


def snapshots(root: Path) -> list[dict]:
    """Every published snapshot or delta under ``root`` with a readable manifest, by name."""
    out = []
    for d in sorted(root.iterdir()) if root.is_dir() else ():
        manifest = d / "manifest.json"
        if not manifest.is_file():
            continue
        try:
            m = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        out.append(
            {
                "name": d.name,
                "kind": m.get("kind", "full"),  # or "delta" (core/snapshot_delta.py)
                "registry": m.get("registry"),
                "created_at": m.get("created_at"),
                "counts": m.get("counts", {}),
                "files": len(m.get("files", [])),
                "bytes": sum(f.get("bytes", 0) for f in m.get("files", [])),
                "key_id": (m.get("signature") or {}).get("key_id"),
            }
        )
    return out


def snapshot_file(root: Path, name: str, rel: str) -> Path:
    """A file of a published snapshot, only if the manifest lists it (or is the manifest)."""
    root = root.resolve()
    snap = (root / name).resolve()
    if snap.parent != root or not (snap / "manifest.json").is_file():
        raise Unpublished(f"no snapshot {name!r}")
    if rel != "manifest.json":
        listed = {f["path"] for f in json.loads((snap / "manifest.json").read_text(encoding="utf-8")).get("files", [])}
        if rel not in listed:
            raise Unpublished(f"snapshot {name!r} has no file {rel!r}")
    path = (snap / rel).resolve()
    if not path.is_relative_to(snap) or not path.is_file():
        raise Unpublished(f"snapshot {name!r} has no file {rel!r}")
    return path


def required_keys(keys: list) -> list:
    """Trusted keys, or a refusal: with no registry key there is nothing a snapshot could be checked against
    (an empty list would trust any signer)."""
    if not keys:
        raise Conflict(
            "this registry has no registry key yet: create it with `fairtrain init` or "
            "`fairtrain keys create --registry`"
        )
    return keys


def verify_published(root: Path, name: str, keys: list) -> dict:
    path = snapshot_file(root, name, "manifest.json").parent
    try:
        snap = verify_snapshot(path, required_keys(keys))
    except SnapshotError as e:
        return {"name": name, "valid": False, "problem": str(e)}
    return {"name": name, "valid": True, "key_id": snap.signer.key_id, "snapshot_id": snap.snapshot_id}


def check_outputs(snapshot_dir: Path, items: list[tuple[str, bytes]], trusted: list) -> dict:
    """Generated outputs matched against a snapshot verified before anything is read (a worker process
    runs this: everything it takes and gives crosses as plain data)."""
    from fairtrain.services.transparency.outputs import OutputChecker, attribution_weights

    try:
        checker = OutputChecker.open(snapshot_dir, required_keys(trusted))
    except SnapshotError as e:
        raise Conflict(f"snapshot refused: {e}") from None
    checks = checker.check(items)
    return {
        "results": [c.to_dict() for c in checks],
        "flagged": sum(c.flagged for c in checks),
        "attribution_weights": {str(k): v for k, v in attribution_weights(checks).items()},
    }
