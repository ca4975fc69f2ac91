"""The DIT in one SQLite file per DC, through sqlite-utils.

Theory of operation
-------------------
Tables (created with sqlite-utils, versioned with ``PRAGMA user_version``):

- ``objects``: one row per object keyed by objectGUID; the DN (as shown and normalised), the
  parent and NC GUIDs, uSNCreated/uSNChanged, isDeleted, the values (JSON) and the
  replPropertyMetaData (JSON ``{attr: [version, time, invocationId, origUSN, localUSN]}``).
  ``objects_usn`` indexes uSNChanged: it is what replication walks (GetNCChanges reads
  changes in USN order).
- ``idx``: equality keys of indexed attributes (sAMAccountName, objectSid, ...) -> GUID.
- ``links``: linked values (member/...) by (source, attr, target) with value metadata.
- ``state``: small per-DC facts as JSON (highestCommittedUSN, invocationId, repsFrom, UTD).

The database runs in WAL mode with ``synchronous=NORMAL``: a commit survives the emulator
process being killed at any point (the guarantee a test can check).  A DC's "power loss" is
simulated by the Hyper-V layer at the VM level, not by losing SQLite pages.
# DIVERGENCE: synchronous=NORMAL, not FULL: durable against process death, not OS crash; a
# per-commit fsync would cap writes at the disk's flush rate for no observable benefit here.

Binary values are stored in the JSON as base64 (see ``_enc_values`` for the tagging that keeps
text and bytes apart exactly, whatever the values hold).
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import sqlite_utils

from ..errors import DcemuError
from .interface import DuplicateName, LinkValue, PropertyMeta, StoredObject, Value

SCHEMA_VERSION = 1
_BIN = "\x00"


class StoreError(DcemuError):
    """The database file is missing, damaged or from another version."""


def _enc_values(attrs: dict[str, list[Value]]) -> str:
    """Values as JSON.  An attribute whose first value is binary is stored under ``#name`` with
    its values in base64.  A value of the other kind in a list is tagged with a NUL prefix
    (``NUL B`` + base64 bytes, ``NUL S`` + text), so any text, even one starting with NUL, survives."""
    out: dict[str, list[str]] = {}
    for name, values in attrs.items():
        if values and type(values[0]) is not str:
            out["#" + name] = [base64.b64encode(v).decode() if type(v) is not str else _BIN + "S" + v
                               for v in values]
        else:
            out[name] = [(_BIN + "S" + v if v[:1] == _BIN else v) if type(v) is str
                         else _BIN + "B" + base64.b64encode(v).decode() for v in values]
    return orjson.dumps(out).decode()


def _tagged(v: str) -> Value:
    return v[2:] if v[1:2] == "S" else base64.b64decode(v[2:])


def _dec_values(text: str) -> dict[str, list[Value]]:
    raw = orjson.loads(text)
    if "\"#" not in text and "\\u0000" not in text:
        return raw
    tagged = "\\u0000" in text
    binary = [k for k in raw if k[:1] == "#"]
    if tagged:
        for name, values in raw.items():
            if name[:1] != "#" and any(type(v) is str and v[:1] == _BIN for v in values):
                raw[name] = [_tagged(v) if type(v) is str and v[:1] == _BIN else v for v in values]
    for name in binary:
        raw[name[1:]] = [_tagged(v) if v[:1] == _BIN else base64.b64decode(v) for v in raw.pop(name)]
    return raw


def _enc_meta(meta: dict[str, PropertyMeta]) -> str:
    """Stamps shared by several attributes (one write stamps many alike) are stored once:
    ``{"s": [[version, time, invocationId, origUSN, localUSN], ...], "a": {attr: index}}``."""
    stamps: dict[tuple, int] = {}
    table: list[list] = []
    refs: dict[str, int] = {}
    for attr, m in meta.items():
        key = (m.version, m.time, m.invocation_id, m.orig_usn, m.local_usn)
        i = stamps.get(key)
        if i is None:
            i = stamps[key] = len(table)
            table.append(list(key))
        refs[attr] = i
    return orjson.dumps({"s": table, "a": refs}).decode()


def _dec_meta(text: str) -> dict[str, PropertyMeta]:
    raw = orjson.loads(text)
    if "s" in raw and "a" in raw and isinstance(raw["a"], dict):
        # Attributes stamped alike share one PropertyMeta: stamps are replaced, never edited in place.
        shared = [PropertyMeta(*row) for row in raw["s"]]
        return {attr: shared[i] for attr, i in raw["a"].items()}
    return {k: PropertyMeta(*v) for k, v in raw.items()}


class SqliteStore:
    """A Store over one SQLite file (``":memory:"`` for throwaway unit tests)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.db = sqlite_utils.Database(conn)
            self._conn = conn
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            # A 100,000-user DIT is ~0.5 GB of randomly keyed B-trees: a 64 MB page cache and
            # memory-mapped reads keep inserts from re-reading pages (measured in benchmarks/).
            conn.execute("PRAGMA cache_size=-65536")
            conn.execute("PRAGMA mmap_size=268435456")
            conn.execute("PRAGMA foreign_keys=OFF")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a dcemu database ({exc})") from exc
        self._depth = 0
        self._state_cache: dict[str, object] = {}
        self._dirty_state: set[str] = set()
        self._closed = False
        #: Counts rolled-back transactions, so object caches above the store know to drop.
        self.rollbacks = 0

    # --- schema -------------------------------------------------------------------------
    def _migrate(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version not in (0,):
            raise StoreError(f"{self.path}: database format {version}, this dcemu reads {SCHEMA_VERSION}")
        if self.db.table_names():
            raise StoreError(f"{self.path}: has tables but no dcemu format marker; refusing to touch it")
        self.db["objects"].create({
            "guid": str, "dn": str, "ndn": str, "parent": str, "nc": str,
            "usn_created": int, "usn_changed": int, "deleted": int, "attrs": str, "meta": str,
        }, pk="guid", not_null={"dn", "ndn", "usn_created", "usn_changed"})
        self.db["objects"].create_index(["ndn"], unique=True, index_name="objects_ndn")
        self.db["objects"].create_index(["usn_changed"], index_name="objects_usn")
        self.db["objects"].create_index(["parent"], index_name="objects_parent")
        self._conn.execute("CREATE TABLE idx (attr TEXT NOT NULL, key TEXT NOT NULL, guid TEXT NOT NULL, "
                           "PRIMARY KEY (attr, key, guid)) WITHOUT ROWID")
        self._conn.execute("CREATE INDEX idx_guid ON idx (guid)")
        self.db["links"].create({
            "guid": str, "attr": str, "target": str, "present": int, "version": int,
            "time_created": int, "time_changed": int, "invocation_id": str, "orig_usn": int,
            "local_usn": int, "time_deleted": int,
        }, pk=("guid", "attr", "target"))
        self.db["links"].create_index(["target", "attr"], index_name="links_target")
        self.db["links"].create_index(["local_usn"], index_name="links_usn")
        self.db["state"].create({"key": str, "value": str}, pk="key")
        self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    # --- transactions ---------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing: the outermost block commits; an exception anywhere rolls back."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        saved_state = dict(self._state_cache)
        try:
            yield
            self._flush_state()
        except BaseException:
            self._conn.execute("ROLLBACK")
            self._state_cache = saved_state
            self._dirty_state.clear()
            self.rollbacks += 1
            raise
        else:
            self._conn.execute("COMMIT")
        finally:
            self._depth = 0

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    # --- objects --------------------------------------------------------------------------
    _COLS = "guid, dn, parent, nc, usn_created, usn_changed, deleted, attrs, meta"

    @staticmethod
    def _row(row: tuple) -> StoredObject:
        return StoredObject(row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6]),
                            _dec_values(row[7]), _dec_meta(row[8]))

    def get(self, guid: str) -> StoredObject | None:
        row = self._conn.execute(f"SELECT {self._COLS} FROM objects WHERE guid=?", (guid,)).fetchone()
        return self._row(row) if row else None

    def get_by_ndn(self, ndn: str) -> StoredObject | None:
        row = self._conn.execute(f"SELECT {self._COLS} FROM objects WHERE ndn=?", (ndn,)).fetchone()
        return self._row(row) if row else None

    def guid_by_ndn(self, ndn: str) -> str | None:
        row = self._conn.execute("SELECT guid FROM objects WHERE ndn=?", (ndn,)).fetchone()
        return row[0] if row else None

    def put(self, obj: StoredObject, ndn: str, index: dict[str, set[str]], *, new: bool = False) -> None:
        """Insert or replace ``obj`` and its index keys (must be inside a transaction)."""
        try:
            self._conn.execute(
                "INSERT OR REPLACE INTO objects (guid, dn, ndn, parent, nc, usn_created, usn_changed, deleted, attrs,"
                " meta) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (obj.guid, obj.dn, ndn, obj.parent, obj.nc, obj.usn_created, obj.usn_changed, int(obj.deleted),
                 _enc_values(obj.attrs), _enc_meta(obj.meta)))
        except sqlite3.IntegrityError as exc:
            raise DuplicateName(obj.dn) from exc
        if not new:
            self._conn.execute("DELETE FROM idx WHERE guid=?", (obj.guid,))
        rows = [(attr, key, obj.guid) for attr, keys in index.items() for key in keys]
        if rows:
            self._conn.executemany("INSERT OR IGNORE INTO idx (attr, key, guid) VALUES (?,?,?)", rows)

    def put_values(self, obj: StoredObject) -> None:
        """Rewrite only the values of ``obj`` (no index, DN or USN change): rIDNextRID bookkeeping."""
        self._conn.execute("UPDATE objects SET attrs=? WHERE guid=?", (_enc_values(obj.attrs), obj.guid))

    def move_subtree(self, old_ndn: str, new_ndn: str, old_dn_suffix: str, new_dn_suffix: str) -> None:
        """Rewrite the DNs of every descendant of a renamed/moved object (local bookkeeping, no USN)."""
        escaped = old_ndn.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._conn.execute("SELECT guid, dn, ndn FROM objects WHERE ndn LIKE ? ESCAPE '\\'",
                                  ("%," + escaped,)).fetchall()
        for guid, dn_text, ndn in rows:
            if not ndn.endswith("," + old_ndn):
                continue
            self._conn.execute("UPDATE objects SET dn=?, ndn=? WHERE guid=?",
                               (dn_text[: len(dn_text) - len(old_dn_suffix)] + new_dn_suffix,
                                ndn[: len(ndn) - len(old_ndn)] + new_ndn, guid))

    def remove(self, guid: str) -> None:
        self._conn.execute("DELETE FROM objects WHERE guid=?", (guid,))
        self._conn.execute("DELETE FROM idx WHERE guid=?", (guid,))

    def children(self, parent: str) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT guid FROM objects WHERE parent=? ORDER BY ndn", (parent,))]

    def has_children(self, parent: str) -> bool:
        return self._conn.execute("SELECT 1 FROM objects WHERE parent=? LIMIT 1", (parent,)).fetchone() is not None

    def lookup(self, attr: str, key: str) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT guid FROM idx WHERE attr=? AND key=?", (attr, key))]

    def scan(self, *, nc: str | None = None, include_deleted: bool = True) -> Iterator[StoredObject]:
        sql = f"SELECT {self._COLS} FROM objects"
        where, args = [], []
        if nc is not None:
            where.append("nc=?")
            args.append(nc)
        if not include_deleted:
            where.append("deleted=0")
        if where:
            sql += " WHERE " + " AND ".join(where)
        for row in self._conn.execute(sql + " ORDER BY usn_created", args).fetchall():
            yield self._row(row)

    def subtree(self, ndn: str) -> Iterator[StoredObject]:
        """The object at ``ndn`` and everything under it, parents before children."""
        escaped = ndn.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = "%," + escaped if ndn else "%"
        rows = self._conn.execute(f"SELECT {self._COLS}, ndn FROM objects WHERE ndn=? OR ndn LIKE ? ESCAPE '\\'",
                                  (ndn, pattern)).fetchall()
        rows.sort(key=lambda r: (r[-1].count(","), r[-1]))
        for row in rows:
            yield self._row(row[:-1])

    def changes_since(self, usn: int, limit: int = 1000, *, nc: str | None = None) -> list[StoredObject]:
        if nc is None:
            rows = self._conn.execute(f"SELECT {self._COLS} FROM objects WHERE usn_changed>? ORDER BY usn_changed"
                                      " LIMIT ?", (usn, limit)).fetchall()
        else:
            rows = self._conn.execute(f"SELECT {self._COLS} FROM objects WHERE usn_changed>? AND nc=?"
                                      " ORDER BY usn_changed LIMIT ?", (usn, nc, limit)).fetchall()
        return [self._row(r) for r in rows]

    def count(self) -> int:
        return self._conn.execute("SELECT count(*) FROM objects").fetchone()[0]

    # --- linked values --------------------------------------------------------------------
    _LCOLS = ("guid, attr, target, present, version, time_created, time_changed, invocation_id, orig_usn, "
              "local_usn, time_deleted")

    @staticmethod
    def _link(row: tuple) -> LinkValue:
        return LinkValue(row[0], row[1], row[2], bool(row[3]), row[4], row[5], row[6], row[7], row[8], row[9],
                         row[10])

    def links(self, guid: str, attr: str | None = None, *, include_absent: bool = False) -> list[LinkValue]:
        sql = f"SELECT {self._LCOLS} FROM links WHERE guid=?"
        args: list[object] = [guid]
        if attr is not None:
            sql += " AND attr=?"
            args.append(attr)
        if not include_absent:
            sql += " AND present=1"
        return [self._link(r) for r in self._conn.execute(sql + " ORDER BY attr, target", args)]

    def backlinks(self, target: str, attr: str | None = None) -> list[LinkValue]:
        sql = f"SELECT {self._LCOLS} FROM links WHERE target=? AND present=1"
        args: list[object] = [target]
        if attr is not None:
            sql += " AND attr=?"
            args.append(attr)
        return [self._link(r) for r in self._conn.execute(sql + " ORDER BY guid", args)]

    def put_link(self, link: LinkValue) -> None:
        self._conn.execute(
            f"INSERT OR REPLACE INTO links ({self._LCOLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (link.guid, link.attr, link.target, int(link.present), link.version, link.time_created,
             link.time_changed, link.invocation_id, link.orig_usn, link.local_usn, link.time_deleted))

    def remove_links(self, guid: str) -> None:
        self._conn.execute("DELETE FROM links WHERE guid=? OR target=?", (guid, guid))

    def link_changes_since(self, usn: int, *, nc: str | None = None) -> list[LinkValue]:
        if nc is None:
            rows = self._conn.execute(f"SELECT {self._LCOLS} FROM links WHERE local_usn>? ORDER BY local_usn",
                                      (usn,)).fetchall()
        else:
            rows = self._conn.execute(
                f"SELECT {', '.join('l.' + c.strip() for c in self._LCOLS.split(','))} FROM links l "
                "JOIN objects o ON o.guid=l.guid WHERE l.local_usn>? AND o.nc=? ORDER BY l.local_usn",
                (usn, nc)).fetchall()
        return [self._link(r) for r in rows]

    # --- small state ----------------------------------------------------------------------
    def state(self, key: str, default: object = None) -> object:
        if key in self._state_cache:
            return self._state_cache[key]
        row = self._conn.execute("SELECT value FROM state WHERE key=?", (key,)).fetchone()
        value = json.loads(row[0]) if row else default
        if row:
            self._state_cache[key] = value
        return value

    def set_state(self, key: str, value: object) -> None:
        """Set a state value; inside a transaction it is written once, just before COMMIT."""
        self._state_cache[key] = value
        self._dirty_state.add(key)
        if not self._depth:
            self._flush_state()

    def _flush_state(self) -> None:
        for key in sorted(self._dirty_state):
            self._conn.execute("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)",
                               (key, json.dumps(self._state_cache[key], separators=(",", ":"))))
        self._dirty_state.clear()

    def checkpoint(self) -> None:
        """Fold the WAL into the main file, so a copy of the file alone is complete (before a disk copy)."""
        if self._depth == 0 and self.path != ":memory:":
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        if self._closed:
            return
        self.checkpoint()
        self._conn.close()
        self._closed = True

    def remove_link(self, guid: str, attr: str, target: str) -> None:
        """Expunge one linked value (garbage collection of an absent value, R-REPL-41; no USN)."""
        self._conn.execute("DELETE FROM links WHERE guid=? AND attr=? AND target=?", (guid, attr, target))
