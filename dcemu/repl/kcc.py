"""A KCC for one site: a ring of connection objects, translated into repsFrom (MS-ADTS 6.2).

Theory of operation
-------------------
Each DC's KCC works from its own replica of the configuration NC, as Windows' does:

1. the DCs of its site are the live nTDSDSA objects there, ordered by objectGUID;
2. in that ring, a DC wants inbound connections from its two neighbours (one when only two
   DCs exist), so changes travel both ways round and any DC is at most n/2 hops away;
3. it creates the missing ``nTDSConnection`` objects under its own NTDS Settings (originating
   writes, options = NTDSCONN_OPT_IS_GENERATED, named by a new GUID as Windows names them) and
   deletes the generated ones it no longer wants; administrator-made connections (no
   IS_GENERATED bit) are left alone;
4. it translates connections into repsFrom for every NC it holds, and drops repsFrom entries
   that no connection backs (unless DISABLE_NTDSCONN_XLATE is set on the DC).

Read-only DCs (dcemu.dsa.rodc) never replicate outbound: the ring is made of writable DCs only,
no DC pulls from an RODC (a connection from one is neither created nor translated), and an
RODC's KCC writes nothing: it keeps the inbound connection (options IS_GENERATED |
RODC_TOPOLOGY) its helper DC created at promotion and only translates it.

# DIVERGENCE: no "optimizing" edges for sites of more than seven DCs (Windows adds them to keep
# every DC within three hops), no inter-site topology, bridgeheads or schedules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..dsa import dn as dnmod
from ..dsa import ops, rodc
from ..errors import LdapError
from . import topology
from .codes import NTDSCONN_OPT_IS_GENERATED, NTDSDSA_OPT_DISABLE_NTDSCONN_XLATE
from .partners import RepsFrom, get_reps_from, put_reps_from, remove_reps_from, reps_from

if TYPE_CHECKING:
    from ..dsa.directory import Directory
    from .replica import Replica

#: nTDSConnection option NTDSCONN_OPT_RODC_TOPOLOGY: a connection made for an RODC (MS-ADTS 6.2).
NTDSCONN_OPT_RODC_TOPOLOGY = 0x40


@dataclass(frozen=True)
class Connection:
    """One nTDSConnection object under a DC's NTDS Settings."""

    guid: str
    dn: str
    from_server: str           # DN of the source's NTDS Settings
    source_dsa: str | None     # its GUID, if that DC is known here
    enabled: bool
    generated: bool


@dataclass
class KccResult:
    created: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    partners: list[str] = field(default_factory=list)


def ring_neighbours(ordered: list[str], me: str) -> list[str]:
    """The inbound partners of ``me`` in a GUID-ordered ring (R: MS-ADTS 6.2.2.3.4 intra-site ring)."""
    if me not in ordered or len(ordered) < 2:
        return []
    i = ordered.index(me)
    out = []
    for j in (i - 1, (i + 1) % len(ordered)):
        guid = ordered[j]
        if guid != me and guid not in out:
            out.append(guid)
    return sorted(out)


def connections(d: Directory, dsa_guid: str) -> list[Connection]:
    """The live connection objects under ``dsa_guid``'s NTDS Settings."""
    me = d.get(dsa_guid)
    if me is None:
        return []
    by_dn = {dnmod.normalize(x.dn): x.guid for x in topology.list_dsas(d)}
    out = []
    for child in d.children(me):
        classes = [str(c).lower() for c in child.attrs.get("objectClass", [])]
        if child.deleted or "ntdsconnection" not in classes:
            continue
        src = str(child.first("fromServer", ""))
        options = int(child.first("options", "0") or 0)
        out.append(Connection(child.guid, child.dn, src, by_dn.get(dnmod.normalize(src)) if src else None,
                              str(child.first("enabledConnection", "TRUE")).upper() == "TRUE",
                              bool(options & NTDSCONN_OPT_IS_GENERATED)))
    return sorted(out, key=lambda c: c.guid)


def add_connection(d: Directory, dest_dsa: topology.DsaInfo, source_dsa: topology.DsaInfo, *,
                   generated: bool = True, rodc_topology: bool = False) -> str:
    """Create an inbound connection on ``dest_dsa`` from ``source_dsa`` (an originating add on ``d``)."""
    name = d.new_guid()
    options = (NTDSCONN_OPT_IS_GENERATED if generated else 0) | (NTDSCONN_OPT_RODC_TOPOLOGY if rodc_topology else 0)
    obj = ops.add(d, f"CN={name},{dest_dsa.dn}", {
        "objectClass": ["nTDSConnection"], "fromServer": [source_dsa.dn], "enabledConnection": ["TRUE"],
        "options": [str(options)]}, system=True)
    return obj.guid


def run_kcc(replica: Replica) -> KccResult:
    """One KCC pass on ``replica``'s DC."""
    d = replica.directory
    result = KccResult()
    me = topology.dsa(d, d.dsa_guid)
    if me is None:
        return result
    site = [x for x in topology.list_dsas(d) if x.site == me.site and not rodc.is_rodc(d, x)]
    by_guid = {x.guid: x for x in site}
    wanted = ring_neighbours([x.guid for x in site], me.guid)
    current = connections(d, me.guid)
    have = {c.source_dsa for c in current}
    if rodc.is_rodc(d, me):
        current, wanted = [], []      # an RODC writes no connection objects (its helper made them)
    try:
        for guid in wanted:
            if guid not in have:
                result.created.append(add_connection(d, me, by_guid[guid]))
        for conn in current:
            if conn.generated and conn.source_dsa not in wanted:
                ops.delete(d, conn.dn, system=True)
                result.deleted.append(conn.guid)
    except LdapError:
        pass  # a DC refusing writes (quarantine) keeps its old topology
    if not me.options & NTDSDSA_OPT_DISABLE_NTDSCONN_XLATE:
        result.partners = translate_connections(replica)
    return result


def translate_connections(replica: Replica) -> list[str]:
    """Make repsFrom match the enabled connections, for every NC this DC holds."""
    d = replica.directory
    store = d.store
    sources: dict[str, str] = {}
    for conn in connections(d, d.dsa_guid):
        if conn.enabled and conn.source_dsa and not rodc.is_rodc(d, conn.source_dsa):   # never pull from an RODC
            info = topology.dsa(d, conn.source_dsa)
            sources[conn.source_dsa] = info.dns_host_name if info is not None else ""
    with store.transaction():
        for _, nc_guid in topology.naming_contexts(d):
            for guid, address in sorted(sources.items()):
                if get_reps_from(store, nc_guid, guid) is None:
                    put_reps_from(store, nc_guid, RepsFrom(guid, address=address))
            for entry in reps_from(store, nc_guid):
                if entry.source_dsa not in sources:
                    remove_reps_from(store, nc_guid, entry.source_dsa)
    return sorted(sources)
