"""Files on the host: atomic JSON, virtual-disk directories, and staged directory swaps.

Theory of operation
-------------------
A host directory looks like this (every part can be read, copied or edited by hand)::

    <lab>/hosts/<HOST>/host.json                    HostState (records.py), the commit point
    <lab>/hosts/<HOST>/storage/<VM>/                a VM directory, laid out like an export:
        Virtual Machines/<VMId>.vmrs.json           saved-state memory image (Saved VMs)
        Virtual Machines/<VMId>.live.json           memory image of a VM parked by close()
        Virtual Hard Disks/<VM>.vhdx/               a virtual disk = a directory of guest files
            .dcemu-vhdx.json                        the disk's header (format, id, size)
            Windows/NTDS/ntds.dit.sqlite ...        whatever the guest wrote
        Snapshots/<checkpoint id>/...               checkpoint disk copies and memory image
    <lab>/hosts/<HOST>/Backups/<backup id>/         host-level backups (same layout as an export)

JSON is written to a temporary file and renamed over the target, so a reader sees the old or
the new file, never half of one.  Directory changes are *staged*: the new content is built in a
hidden ``.dcemu-staging-*`` directory beside its final place and renamed into place only when
the whole operation has succeeded (``Staging``); on failure the staging is removed and the host
is as it was.  A leftover staging directory after a killed process is ignored.

DIVERGENCE: a disk is a directory of files rather than a VHDX image, so that users can
inspect and copy it with ordinary tools; checkpoints keep full copies, not differencing disks.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from dcemu.hyperv.errors import DiskError

DISK_HEADER = ".dcemu-vhdx.json"
STAGING_PREFIX = ".dcemu-staging-"
#: DIVERGENCE: a deleted file costs this many bytes of replication log (Hyper-V logs blocks).
DELETE_RECORD_BYTES = 512


# --- JSON ------------------------------------------------------------------------------------

def json_text(data: Any) -> str:
    return json.dumps(data, indent=1) + "\n"


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def atomic_write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` via a temporary file and a rename."""
    atomic_write_text(path, json_text(data))


def read_json(path: Path, what: str, error: type[Exception]) -> Any:
    """Parse ``path``; any problem raises ``error`` naming the file and the position."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{what} {path} is missing.") from None
    except OSError as exc:
        raise error(f"{what} {path} cannot be read: {exc.strerror}.") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{what} {path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}.") from None


# --- paths -------------------------------------------------------------------------------------

def stored_path(path: Path, base: Path) -> str:
    """How a path is kept in a record: relative to ``base`` when beneath it, else absolute."""
    path = Path(os.path.abspath(path))
    try:
        return path.relative_to(Path(os.path.abspath(base))).as_posix()
    except ValueError:
        return path.as_posix()


def resolve_path(stored: str, base: Path) -> Path:
    p = Path(stored)
    return p if p.is_absolute() else Path(os.path.abspath(base / p))


def unique_child(parent: Path, name: str) -> Path:
    """``parent/name``, or ``parent/name (2)``... if taken (Hyper-V names need not be unique)."""
    candidate = parent / name
    n = 2
    while candidate.exists():
        candidate = parent / f"{name} ({n})"
        n += 1
    return candidate


# --- virtual disks -----------------------------------------------------------------------------

def create_disk(path: Path, *, size_bytes: int, disk_id: str) -> None:
    """Make an empty virtual disk directory with its header."""
    path.mkdir(parents=True, exist_ok=False)
    # a fresh directory nobody reads yet: no need for the temporary-file dance
    (path / DISK_HEADER).write_text(json_text({"format": "VHDX", "disk_identifier": disk_id,
                                               "size_bytes": size_bytes}), encoding="utf-8")


def check_disk(path: Path, vm_name: str) -> dict[str, Any]:
    """Return the disk header; DiskError naming the disk and the problem otherwise."""
    if not path.exists():
        raise DiskError(f"The virtual hard disk '{path}' of virtual machine '{vm_name}' was not found: "
                        f"the disk directory is missing.")
    if not path.is_dir():
        raise DiskError(f"The virtual hard disk '{path}' of virtual machine '{vm_name}' is damaged: "
                        f"it is not a directory.")
    header_path = path / DISK_HEADER
    if not header_path.is_file():
        raise DiskError(f"The virtual hard disk '{path}' of virtual machine '{vm_name}' is damaged: "
                        f"its header {DISK_HEADER} is missing.")
    try:
        header = json.loads(header_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        header = None
    if (not isinstance(header, dict) or header.get("format") != "VHDX"
            or not isinstance(header.get("size_bytes"), int) or isinstance(header.get("size_bytes"), bool)
            or header["size_bytes"] <= 0 or not isinstance(header.get("disk_identifier"), str)):
        raise DiskError(f"The virtual hard disk '{path}' of virtual machine '{vm_name}' is damaged: "
                        f"its header {DISK_HEADER} is unreadable or incomplete.")
    return header


def disk_manifest(path: Path) -> dict[str, list[Any]]:
    """{relative path: [size, sha256]} of every file on the disk (replication change tracking)."""
    result: dict[str, list[Any]] = {}
    if not path.is_dir():
        return result
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = Path(root) / name
            rel = full.relative_to(path).as_posix()
            data = full.read_bytes()
            result[rel] = [len(data), hashlib.sha256(data).hexdigest()]
    return result


def manifest_diff(old: dict[str, list[Any]], new: dict[str, list[Any]]) -> tuple[list[str], list[str], int]:
    """(changed or added paths, removed paths, log bytes) between two manifests."""
    changed = sorted(p for p, v in new.items() if old.get(p) != v)
    removed = sorted(p for p in old if p not in new)
    size = sum(new[p][0] for p in changed) + DELETE_RECORD_BYTES * len(removed)
    return changed, removed, size


def fingerprint(manifests: dict[str, dict[str, list[Any]]]) -> str:
    return hashlib.sha256(json.dumps(manifests, sort_keys=True).encode()).hexdigest()


def apply_delta(source: Path, target: Path, changed: list[str], removed: list[str]) -> None:
    """Replay a shipped log: copy changed files from ``source`` into ``target``, delete removed ones."""
    for rel in changed:
        dst = target / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / rel, dst)
    for rel in removed:
        (target / rel).unlink(missing_ok=True)


# --- copying and staging -----------------------------------------------------------------------

def copy_tree(src: Path, dst: Path) -> None:
    """Copy a directory tree (module-level so tests can simulate an interrupted copy)."""
    shutil.copytree(src, dst, symlinks=True)


def remove_tree(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


class Staging:
    """Build new directories/files beside their final place; swap them in all at once.

    ``place(final)`` returns a path inside a fresh hidden staging directory next to ``final``
    to fill; ``commit()`` renames every placed item over its final path (moving any old
    content aside first), ``cleanup()`` deletes the old content and the staging directories,
    and ``abort()`` puts back what ``commit()`` replaced (or never swaps), so the final paths
    end as they were.
    """

    def __init__(self) -> None:
        self._items: list[_Item] = []
        self._delete_later: list[Path] = []
        self.committed = False

    def place(self, final: Path) -> Path:
        final.parent.mkdir(parents=True, exist_ok=True)
        staging_dir = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=final.parent))
        item = _Item(staging_dir / "payload", final, staging_dir)
        self._items.append(item)
        return item.payload

    def copy(self, src: Path, final: Path) -> None:
        """Stage a copy of directory ``src`` that will replace (or create) ``final``."""
        copy_tree(src, self.place(final))

    def write_json(self, final: Path, data: Any) -> None:
        payload = self.place(final)
        payload.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")

    def delete_later(self, path: Path) -> None:
        """Delete ``path`` once the operation has committed."""
        self._delete_later.append(path)

    def commit(self) -> None:
        """Swap in everything placed so far (may run again for items placed later)."""
        self.committed = True
        for item in self._items:
            if item.swapped:
                continue
            if item.final.exists() or item.final.is_symlink():
                os.replace(item.final, item.trash)
                item.replaced = True
            os.replace(item.payload, item.final)
            item.swapped = True

    def cleanup(self) -> None:
        finals = {item.final for item in self._items if item.swapped}
        for path in self._delete_later:
            if path not in finals:          # deleted, then written anew in the same operation
                remove_tree(path)
        for item in self._items:
            remove_tree(item.staging_dir)
        self._items.clear()
        self._delete_later.clear()

    def abort(self) -> None:
        for item in reversed(self._items):
            if item.swapped:
                os.replace(item.final, item.payload)
            if item.replaced:
                os.replace(item.trash, item.final)
            remove_tree(item.staging_dir)
        self._items.clear()
        self._delete_later.clear()
        self.committed = False


class _Item:
    def __init__(self, payload: Path, final: Path, staging_dir: Path) -> None:
        self.payload = payload
        self.final = final
        self.staging_dir = staging_dir
        self.trash = staging_dir / "replaced"
        self.replaced = False
        self.swapped = False
