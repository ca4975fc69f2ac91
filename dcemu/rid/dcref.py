"""What dcemu.rid and dcemu.fsmo need to know about "a DC", whatever object carries it.

The RID and FSMO functions take a ``DomainController`` (``.directory``, ``.identity``,
``.events``), but also a bare ``Directory`` (the replication engine's server side has one) or
any object with a ``directory`` attribute and, optionally, an ``identity`` (``DcIdentity``) and an
``events`` callable.  A bare Directory names itself through its store state (``dsServiceName``,
``ridSetDn``), which is what the DC the DIT belongs to wrote there at provisioning.

Tests that put two DCs in one DIT (the brief allows it until dcemu.repl can promote a DC) give
the second DC an explicit ``identity``; everything here prefers ``identity`` over store state.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from ..ids import Sid
from .events import EventSink

if TYPE_CHECKING:
    from ..dsa.directory import Directory


class DcObject(Protocol):
    """A DC object as these functions read it: a ``directory`` (and optionally ``identity``, ``events``)."""

    @property
    def directory(self) -> Directory: ...


#: "The DC" the RID and FSMO functions take: a DC object or a bare Directory (module doc).
DcRef: TypeAlias = "DcObject | Directory"


def directory_of(dc: DcRef) -> Directory:
    """The Directory of ``dc`` (``dc`` itself when it is one)."""
    return dc.directory if hasattr(dc, "directory") else dc


def _identity(dc: DcRef) -> Any | None:
    return getattr(dc, "identity", None) if hasattr(dc, "directory") else None


def ntds_settings_dn(dc: DcRef) -> str:
    """The DN of the DC's nTDSDSA object (``CN=NTDS Settings,CN=<dc>,CN=Servers,...``)."""
    ident = _identity(dc)
    if ident is not None:
        return str(ident.ntds_settings_dn)
    return str(directory_of(dc).store.state("dsServiceName", ""))


def dsa_guid(dc: DcRef) -> str:
    """The objectGUID of the DC's nTDSDSA object (what EXOP requests send as uuidDsaObjDest)."""
    ident = _identity(dc)
    if ident is not None:
        return str(ident.dsa_guid)
    return directory_of(dc).dsa_guid


def rid_set_dn(dc: DcRef) -> str:
    """The DN of the DC's RID Set (``CN=RID Set,CN=<dc>,OU=Domain Controllers,...``)."""
    ident = _identity(dc)
    if ident is not None:
        return str(ident.rid_set_dn)
    return str(directory_of(dc).store.state("ridSetDn", ""))


def name_of(dc: DcRef) -> str:
    ident = _identity(dc)
    if ident is not None:
        return str(ident.name)
    return str(directory_of(dc).store.state("dcName", ""))


def event_sink(dc: DcRef) -> EventSink:
    """The DC's ``events`` callable, looked up at call time (the owner may replace it later)."""
    def sink(event_id: int, text: str) -> None:
        target = getattr(dc, "events", None)
        if callable(target):
            target(event_id, text)
    return sink


def same_dc(a: DcRef, b: DcRef) -> bool:
    """True when ``a`` and ``b`` are the same DSA (same nTDSDSA DN)."""
    return ntds_settings_dn(a).lower() == ntds_settings_dn(b).lower()


def is_domain_sid(dc: DcRef, value: Any) -> bool:
    """True when ``value`` (binary SID, ``S-1-...`` text, or a one-element list of either) is the domain SID.

    The rootDSE operations becomePdc and invalidateRidPool take the domain SID as their value
    (MS-ADTS 3.1.1.3.3).
    """
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if value is None:
        return False
    try:
        given = Sid.from_bytes(value) if isinstance(value, bytes) else Sid.parse(str(value))
    except (ValueError, TypeError, IndexError, struct.error):
        return False
    return str(given).upper() == str(directory_of(dc).store.state("domainSid", "")).upper()
