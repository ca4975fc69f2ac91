"""What a DC knows of the forest's DCs and NCs, read from its own replica of the config NC.

Theory of operation
-------------------
Every DC finds its partners in its own copy of the configuration NC: each DC is a ``server``
object under ``CN=Servers,CN=<site>,CN=Sites``, with an ``nTDSDSA`` child ("NTDS Settings")
whose objectGUID is the DSA GUID and whose ``invocationId`` is the current database identity
(R-REPL-02).  ``retiredReplDSASignatures`` on the same object lists past identities
(R-REPL-28).  Nothing here writes; every answer reflects what replication has brought so far,
which is exactly why a new DC is unknown to a partner until the partner's config NC catches up.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..dsa import dn as dnmod
from ..ids import guid_from_bytes
from ..store.interface import StoredObject

if TYPE_CHECKING:
    from ..dsa.directory import Directory



@dataclass(frozen=True)
class RetiredSignature:
    """REPL_DSA_SIGNATURE_V1 (MS-DRSR 5.172): a retired invocationId, when and at which USN."""

    uuid_dsa_signature: str
    time_retired: int          # DSTIME
    usn_retired: int


@dataclass(frozen=True)
class DsaInfo:
    """One DC as the config NC describes it."""

    guid: str
    dn: str
    name: str                  # the server object's CN ("DC01")
    site: str
    invocation_id: str
    dns_host_name: str
    retired: tuple[RetiredSignature, ...] = ()
    options: int = 0

    @property
    def display(self) -> str:
        """``Default-First-Site-Name\\DC01``, as repadmin names a DC."""
        return f"{self.site}\\{self.name}"


# --- retiredReplDSASignatures codec (MS-DRSR 5.173 REPL_DSA_SIGNATURE_VECTOR_V1) ------------------

def encode_signatures(sigs: tuple[RetiredSignature, ...] | list[RetiredSignature]) -> bytes:
    """dwVersion=1, cNumSignatures, then {uuid (16), timeRetired (8), usnRetired (8)} each."""
    from ..ids import guid_to_bytes, parse_guid
    out = bytearray(struct.pack("<II", 1, len(sigs)))
    for sig in sigs:
        out += guid_to_bytes(parse_guid(sig.uuid_dsa_signature))
        out += struct.pack("<qq", sig.time_retired, sig.usn_retired)
    return bytes(out)


def decode_signatures(blob: bytes | str | None) -> tuple[RetiredSignature, ...]:
    if not blob or not isinstance(blob, bytes) or len(blob) < 8:
        return ()
    version, count = struct.unpack_from("<II", blob, 0)
    if version != 1:
        return ()
    out = []
    for i in range(count):
        off = 8 + 32 * i
        if off + 32 > len(blob):
            break
        guid = str(guid_from_bytes(blob[off:off + 16])).lower()
        time_retired, usn_retired = struct.unpack_from("<qq", blob, off + 16)
        out.append(RetiredSignature(guid, time_retired, usn_retired))
    return tuple(out)


# --- lookups ---------------------------------------------------------------------------------------

def _invocation_text(value: object) -> str:
    if isinstance(value, bytes) and len(value) == 16:
        return str(guid_from_bytes(value)).lower()
    return str(value or "").lower()


def dsa_from_object(d: Directory, obj: StoredObject) -> DsaInfo:
    server_dn = dnmod.parent(obj.dn)
    parts = dnmod.parse(obj.dn)
    name = parts[1][1] if len(parts) > 1 else ""
    site = parts[3][1] if len(parts) > 3 else ""
    server = d.find(server_dn)
    dns = str(server.first("dNSHostName", "")) if server is not None else ""
    return DsaInfo(obj.guid, obj.dn, name, site, _invocation_text(obj.first("invocationId")), dns,
                   decode_signatures(obj.first("retiredReplDSASignatures")), int(obj.first("options", "0") or 0))


def _is_dsa(obj: StoredObject) -> bool:
    return any(str(c).lower() == "ntdsdsa" for c in obj.attrs.get("objectClass", []))


def list_dsas(d: Directory, *, include_deleted: bool = False) -> list[DsaInfo]:
    """Every nTDSDSA under CN=Sites, sorted by DSA GUID (the KCC's order)."""
    config = str(d.store.state("configurationNamingContext", ""))
    if not config:
        return []
    out = []
    for obj in d.store.subtree(dnmod.normalize(f"CN=Sites,{config}")):
        if _is_dsa(obj) and (include_deleted or not obj.deleted):
            out.append(dsa_from_object(d, obj))
    if include_deleted:
        for obj in d.store.scan(nc=_nc_guid(d, config), include_deleted=True):
            if obj.deleted and _is_dsa(obj) and all(x.guid != obj.guid for x in out):
                out.append(DsaInfo(obj.guid, obj.dn, "", "", _invocation_text(obj.first("invocationId")), ""))
    return sorted(out, key=lambda x: x.guid)


def _nc_guid(d: Directory, dn: str) -> str | None:
    head = d.find(dn)
    return head.guid if head is not None else None


def dsa(d: Directory, dsa_guid: str) -> DsaInfo | None:
    """The live DC whose NTDS Settings object has this GUID, or None (unknown or deleted)."""
    obj = d.get(dsa_guid)
    if obj is None or obj.deleted or not _is_dsa(obj):
        return None
    return dsa_from_object(d, obj)


def invocation_owner(d: Directory, invocation_id: str,
                     dsas: list[DsaInfo] | None = None) -> tuple[DsaInfo, bool] | None:
    """(DC, retired?) for an invocationId, from current ids first, then retired signatures.

    ``dsas``: ``list_dsas(d)`` when the caller resolves many ids at once (one scan of CN=Sites).
    """
    dsas = list_dsas(d) if dsas is None else dsas
    for info in dsas:
        if info.invocation_id == invocation_id:
            return info, False
    for info in dsas:
        if any(sig.uuid_dsa_signature == invocation_id for sig in info.retired):
            return info, True
    return None


def naming_contexts(d: Directory) -> list[tuple[str, str]]:
    """(DN, GUID) of the NCs this DC holds: domain, configuration, schema (in that order)."""
    store = d.store
    stored = store.state("repl.ncs")
    if stored:
        return [(str(dn), str(guid)) for dn, guid in stored]
    out = []
    for key in ("defaultNamingContext", "configurationNamingContext", "schemaNamingContext"):
        dn = str(store.state(key, "") or "")
        head = d.find(dn) if dn else None
        if head is not None:
            out.append((head.dn, head.guid))
    return out


def nc_by_guid(d: Directory, nc_guid: str) -> str | None:
    for dn, guid in naming_contexts(d):
        if guid == nc_guid:
            return dn
    return None


def nc_label(d: Directory, nc_guid: str) -> str:
    return nc_by_guid(d, nc_guid) or nc_guid
