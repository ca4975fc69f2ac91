"""The DIT in one SQLite file per DC, through sqlite-utils.

Theory of operation
-------------------
Tables (created with sqlite-utils, versioned with ``PRAGMA user_version``):

- ``objects``: one row per object keyed by objectGUID; the DN (as shown and normalised), the
  parent and NC GUIDs, uSNCreated/uSNChanged, isDeleted, the values (JSON) and the
  replPropertyMetaData (JSON ``{attr: [version, time, invocationId, origUSN, localUSN]}``).
  ``objects_usn`` indexes uSNChanged: it is what replication walks (GetNCChanges reads
  changes in USN order).
- ``idx``: equality keys of indexed attributes (sAMAccountName, objectSid, ...) -> the object's
  row id (``oid``, an integer that never changes, unlike a GUID it is appended in order).
- ``links``: linked values (member/...) by (source, attr, target) with value metadata.
- ``state``: small per-DC facts as JSON (highestCommittedUSN, invocationId, repsFrom, UTD).
- ``sds``: security descriptors stored once, as NTDS's single-instance ``sd_table`` does since
  Windows Server 2003: a row's ``nTSecurityDescriptor`` holds a reference (a digest of the
  bytes), so 100,000 users with the default descriptor share one copy.

The database runs in WAL mode with ``synchronous=NORMAL``: a commit survives the emulator
process being killed at any point (the guarantee a test can check).  A DC's "power loss" is
simulated by the Hyper-V layer at the VM level, not by losing SQLite pages.
# DIVERGENCE: synchronous=NORMAL, not FULL: durable against process death, not OS crash; a
# per-commit fsync would cap writes at the disk's flush rate for no observable benefit here.

How an object's values and stamps are written into its row (JSON, base64 for binary values,
descriptors by reference) is ``dcemu.store.rows``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from .interface import DuplicateName, LinkValue, StoredObject, Value
from .rows import StoreError, decode_meta, decode_values, encode_meta, encode_values

SCHEMA_VERSION = 2
_ABSENT = object()     # not looked up yet
_MISSING = object()    # looked up: no such state row


def _chunks(items: list[str], size: int = 900) -> Iterator[list[str]]:
    """Slices small enough for one statement's parameters."""
    for i in range(0, len(items), size):
        yield items[i:i + size]


class _Transaction:
    """``SqliteStore.transaction()``: a plain context manager (a bulk load enters two per object)."""

    __slots__ = ("store",)

    def __init__(self, store: SqliteStore) -> None:
        self.store = store

    def __enter__(self) -> None:
        self.store._begin()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> bool:
        self.store._end(exc_type is None)
        return False


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
            # Checkpoint the WAL every 64 MB rather than every 4 MB: a bulk load dirties the
            # same index pages over and over, and each checkpoint writes them back again.
            conn.execute("PRAGMA wal_autocheckpoint=16384")
            conn.execute("PRAGMA foreign_keys=OFF")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a dcemu database ({exc})") from exc
        self._depth = 0
        self._state_cache: dict[str, object] = {}
        self._saved_state: dict[str, object] = {}
        # Content-addressed, so never stale; _sd_refs (descriptors known to be in the table) is
        # dropped on rollback, which may have undone their insert.
        self._sd_bytes: dict[str, bytes] = {}
        self._sd_refs: dict[bytes, str] = {}
        # put_values() rewrites (rIDNextRID on every new principal) wait here for the commit.
        self._pending_values: dict[str, dict[str, list[Value]]] = {}
        self._dirty_state: set[str] = set()
        self._closed = False
        #: Counts rolled-back transactions, so object caches above the store know to drop.
        self.rollbacks = 0

    # --- schema -------------------------------------------------------------------------
    def _migrate(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version == 1:
            self._upgrade_from_1()
            return
        if version not in (0,):
            raise StoreError(f"{self.path}: database format {version}, this dcemu reads {SCHEMA_VERSION}")
        if self.db.table_names():
            raise StoreError(f"{self.path}: has tables but no dcemu format marker; refusing to touch it")
        with self._ddl():
            self._create_objects_and_idx()
            self.db["links"].create({
                "guid": str, "attr": str, "target": str, "present": int, "version": int,
                "time_created": int, "time_changed": int, "invocation_id": str, "orig_usn": int,
                "local_usn": int, "time_deleted": int,
            }, pk=("guid", "attr", "target"))
            self.db["links"].create_index(["target", "attr"], index_name="links_target")
            self.db["links"].create_index(["local_usn"], index_name="links_usn")
            self.db["state"].create({"key": str, "value": str}, pk="key")
            self._create_sds()
            self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextmanager
    def _ddl(self) -> Iterator[None]:
        """Create or upgrade the tables all at once (a half-made DIT would read as damaged)."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _create_objects_and_idx(self) -> None:
        # ``oid`` is a stable integer row id (INTEGER PRIMARY KEY survives VACUUM); index rows
        # refer to it rather than to the random objectGUID, so their second index is appended
        # to instead of written at random (measured: ~40% of an add's storage cost).
        self.db["objects"].create({
            "oid": int, "guid": str, "dn": str, "ndn": str, "parent": str, "nc": str,
            "usn_created": int, "usn_changed": int, "deleted": int, "attrs": str, "meta": str,
        }, pk="oid", not_null={"guid", "dn", "ndn", "usn_created", "usn_changed"})
        self.db["objects"].create_index(["guid"], unique=True, index_name="objects_guid")
        self.db["objects"].create_index(["ndn"], unique=True, index_name="objects_ndn")
        self.db["objects"].create_index(["usn_changed"], index_name="objects_usn")
        self.db["objects"].create_index(["parent"], index_name="objects_parent")
        self._conn.execute("CREATE TABLE idx (attr TEXT NOT NULL, key TEXT NOT NULL, oid INTEGER NOT NULL, "
                           "PRIMARY KEY (attr, key, oid)) WITHOUT ROWID")
        self._conn.execute("CREATE INDEX idx_oid ON idx (oid)")

    def _upgrade_from_1(self) -> None:
        """Format 1 (objects keyed by GUID, idx by GUID, descriptors inline) -> 2, in one transaction.

        Rows keep their values as stored: inline descriptors still read; rewritten rows intern them.
        """
        cols = "guid, dn, ndn, parent, nc, usn_created, usn_changed, deleted, attrs, meta"
        with self._ddl():
            self._conn.execute("ALTER TABLE objects RENAME TO objects_v1")
            self._conn.execute("ALTER TABLE idx RENAME TO idx_v1")
            for name in ("objects_ndn", "objects_usn", "objects_parent", "idx_guid"):
                self._conn.execute(f"DROP INDEX IF EXISTS {name}")
            self._create_objects_and_idx()
            self._conn.execute(f"INSERT INTO objects ({cols}) SELECT {cols} FROM objects_v1 ORDER BY usn_created")
            self._conn.execute("INSERT INTO idx (attr, key, oid) SELECT i.attr, i.key, o.oid FROM idx_v1 i "
                               "JOIN objects o ON o.guid = i.guid")
            self._conn.execute("DROP TABLE objects_v1")
            self._conn.execute("DROP TABLE idx_v1")
            self._create_sds()
            self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _create_sds(self) -> None:
        self._conn.execute("CREATE TABLE IF NOT EXISTS sds (id TEXT PRIMARY KEY, sd BLOB NOT NULL) WITHOUT ROWID")

    # --- single-instance security descriptors -----------------------------------------------
    def _intern(self, sd: bytes) -> str:
        """The reference of ``sd`` in ``sds``, storing it on first sight (inside the caller's transaction)."""
        ref = self._sd_refs.get(sd)
        if ref is None:
            ref = hashlib.blake2b(sd, digest_size=12).hexdigest()
            self._conn.execute("INSERT OR IGNORE INTO sds (id, sd) VALUES (?, ?)", (ref, sd))
            self._sd_refs[sd] = ref
            self._sd_bytes[ref] = sd
        return ref

    def _resolve(self, ref: str) -> bytes:
        sd = self._sd_bytes.get(ref)
        if sd is None:
            row = self._conn.execute("SELECT sd FROM sds WHERE id=?", (ref,)).fetchone()
            if row is None:
                raise StoreError(f"{self.path}: security descriptor {ref} is missing from the sds table")
            sd = self._sd_bytes[ref] = bytes(row[0])
        return sd

    # --- transactions ---------------------------------------------------------------------
    def transaction(self) -> _Transaction:
        """All-or-nothing: the outermost block commits; an exception anywhere rolls back."""
        return _Transaction(self)

    def _begin(self) -> None:
        if self._depth:
            self._depth += 1
            return
        self._conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        self._saved_state = dict(self._state_cache)

    def _end(self, ok: bool) -> None:
        if self._depth > 1:
            self._depth -= 1
            return
        try:
            if ok:
                try:
                    self._flush_values()
                    self._flush_state()
                except BaseException:
                    self._rollback()
                    raise
                self._conn.execute("COMMIT")
            else:
                self._rollback()
        finally:
            self._depth = 0

    def _rollback(self) -> None:
        self._conn.execute("ROLLBACK")
        self._state_cache = self._saved_state
        self._dirty_state.clear()
        self._pending_values.clear()
        self._sd_refs.clear()
        self.rollbacks += 1

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    # --- objects --------------------------------------------------------------------------
    _COLS = "guid, dn, parent, nc, usn_created, usn_changed, deleted, attrs, meta"

    def _row(self, row: tuple) -> StoredObject:
        pending = self._pending_values.get(row[0]) if self._pending_values else None
        values = {k: list(v) for k, v in pending.items()} if pending is not None else \
            decode_values(row[7], self._resolve)
        return StoredObject(row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6]), values, decode_meta(row[8]))

    def get(self, guid: str) -> StoredObject | None:
        row = self._conn.execute(f"SELECT {self._COLS} FROM objects WHERE guid=?", (guid,)).fetchone()
        return self._row(row) if row else None

    def get_by_ndn(self, ndn: str) -> StoredObject | None:
        row = self._conn.execute(f"SELECT {self._COLS} FROM objects WHERE ndn=?", (ndn,)).fetchone()
        return self._row(row) if row else None

    def guid_by_ndn(self, ndn: str) -> str | None:
        row = self._conn.execute("SELECT guid FROM objects WHERE ndn=?", (ndn,)).fetchone()
        return row[0] if row else None

    _INSERT = ("INSERT INTO objects (guid, dn, ndn, parent, nc, usn_created, usn_changed, deleted, attrs, meta)"
               " VALUES (?,?,?,?,?,?,?,?,?,?)")
    _UPSERT = (_INSERT + " ON CONFLICT(guid) DO UPDATE SET dn=excluded.dn, ndn=excluded.ndn,"
               " parent=excluded.parent, nc=excluded.nc, usn_created=excluded.usn_created,"
               " usn_changed=excluded.usn_changed, deleted=excluded.deleted, attrs=excluded.attrs,"
               " meta=excluded.meta RETURNING oid")

    def put(self, obj: StoredObject, ndn: str, index: dict[str, set[str]], *, new: bool = False) -> None:
        """Insert or update ``obj`` and its index keys (must be inside a transaction).

        ``new`` promises that no row has this GUID yet (a creation), which skips clearing old
        index keys.  Another object already holding ``ndn`` raises DuplicateName.
        """
        row = (obj.guid, obj.dn, ndn, obj.parent, obj.nc, obj.usn_created, obj.usn_changed, int(obj.deleted),
               encode_values(obj.attrs, self._intern), encode_meta(obj.meta))
        conn = self._conn
        try:
            if new:     # a plain INSERT: cheaper than the upsert's RETURNING row
                oid = conn.execute(self._INSERT, row).lastrowid
            else:
                oid = conn.execute(self._UPSERT, row).fetchone()[0]
        except sqlite3.IntegrityError as exc:
            raise DuplicateName(obj.dn) from exc
        self._pending_values.pop(obj.guid, None)
        if not new:
            conn.execute("DELETE FROM idx WHERE oid=?", (oid,))
        rows = [(attr, key, oid) for attr, keys in index.items() for key in keys]
        if rows:
            conn.executemany("INSERT OR IGNORE INTO idx (attr, key, oid) VALUES (?,?,?)", rows)

    def put_new_many(self, rows: list[tuple[StoredObject, str, dict[str, set[str]]]]) -> None:
        """``put(new=True)`` for many objects with one statement per table (an initial sync).

        Row ids are handed out here, after the largest in use: the caller holds the write
        transaction, so nobody else can take them meanwhile.
        """
        if not rows:
            return
        conn = self._conn
        first = conn.execute("SELECT coalesce(max(oid), 0) + 1 FROM objects").fetchone()[0]
        intern = self._intern
        try:
            conn.executemany(
                "INSERT INTO objects (oid, guid, dn, ndn, parent, nc, usn_created, usn_changed, deleted, attrs,"
                " meta) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [(first + i, obj.guid, obj.dn, ndn, obj.parent, obj.nc, obj.usn_created, obj.usn_changed,
                  int(obj.deleted), encode_values(obj.attrs, intern), encode_meta(obj.meta))
                 for i, (obj, ndn, _) in enumerate(rows)])
        except sqlite3.IntegrityError as exc:
            raise DuplicateName(", ".join(obj.dn for obj, _, _ in rows[:3])) from exc
        conn.executemany("INSERT OR IGNORE INTO idx (attr, key, oid) VALUES (?,?,?)",
                         [(attr, key, first + i) for i, (_, _, index) in enumerate(rows)
                          for attr, keys in index.items() for key in keys])

    def put_values(self, obj: StoredObject) -> None:
        """Rewrite only the values of ``obj`` (no index, DN or USN change): rIDNextRID bookkeeping.

        Inside a transaction the row is written once, at commit (a bulk load issues a RID per
        user: one UPDATE per batch, not per user); reads meanwhile see the pending values.
        """
        self._pending_values[obj.guid] = {k: list(v) for k, v in obj.attrs.items()}
        if not self._depth:
            self._flush_values()

    def _flush_values(self) -> None:
        if self._pending_values:
            self._conn.executemany("UPDATE objects SET attrs=? WHERE guid=?",
                                   [(encode_values(attrs, self._intern), guid)
                                    for guid, attrs in self._pending_values.items()])
            self._pending_values.clear()

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
        self._pending_values.pop(guid, None)
        self._conn.execute("DELETE FROM idx WHERE oid=(SELECT oid FROM objects WHERE guid=?)", (guid,))
        self._conn.execute("DELETE FROM objects WHERE guid=?", (guid,))

    def children(self, parent: str) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT guid FROM objects WHERE parent=? ORDER BY ndn", (parent,))]

    def has_children(self, parent: str) -> bool:
        return self._conn.execute("SELECT 1 FROM objects WHERE parent=? LIMIT 1", (parent,)).fetchone() is not None

    def lookup(self, attr: str, key: str) -> list[str]:
        return [r[0] for r in self._conn.execute(
            "SELECT o.guid FROM idx i JOIN objects o ON o.oid = i.oid WHERE i.attr=? AND i.key=?", (attr, key))]

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

    def links_of(self, guids: list[str], *, include_absent: bool = False) -> dict[str, list[LinkValue]]:
        """``links()`` of many holders in one query (a replication reply's objects), by holder GUID."""
        out: dict[str, list[LinkValue]] = {}
        for chunk in _chunks(guids):
            sql = (f"SELECT {self._LCOLS} FROM links WHERE guid IN ({','.join('?' * len(chunk))})"
                   + ("" if include_absent else " AND present=1") + " ORDER BY guid, attr, target")
            for row in self._conn.execute(sql, chunk):
                out.setdefault(row[0], []).append(self._link(row))
        return out

    def existing(self, guids: list[str]) -> set[str]:
        """Which of ``guids`` have a row (one query instead of one per object)."""
        return self._present("guid", guids)

    def existing_ndns(self, ndns: list[str]) -> set[str]:
        """Which of the normalised DNs ``ndns`` an object holds."""
        return self._present("ndn", ndns)

    def _present(self, column: str, keys: list[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(keys):
            found.update(r[0] for r in self._conn.execute(
                f"SELECT {column} FROM objects WHERE {column} IN ({','.join('?' * len(chunk))})", chunk))
        return found

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
        value = self._state_cache.get(key, _ABSENT)
        if value is _ABSENT:
            row = self._conn.execute("SELECT value FROM state WHERE key=?", (key,)).fetchone()
            # Absence is cached too (every write goes through set_state): hot paths ask for
            # keys that are usually unset, such as ridPoolInvalidated on every new principal.
            value = self._state_cache[key] = json.loads(row[0]) if row else _MISSING
        return default if value is _MISSING else value

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
