"""The Global Catalog listener of one DC: LDAP on 3268, LDAPS on 3269, with GC sessions.

Same socket handling as the DC's LDAP listener (dcemu.runtime.server); each connection gets a
session with ``gc=True`` (dcemu.service.gc: the forest's partial attribute set, read-only).  Only
DCs whose NTDS Settings has options IS_GC serve it (``is_global_catalog``), which is also what
rootDSE isGlobalCatalogReady reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..service.session import LdapSession
from .server import DcListener

NTDSDSA_OPT_IS_GC = 0x1


def is_global_catalog(dc: Any) -> bool:
    """Does the DC's NTDS Settings object say IS_GC (MS-ADTS 6.1.1.2.2.1.2.1.1 options)?"""
    ntds = dc.directory.find(dc.identity.ntds_settings_dn)
    try:
        return ntds is not None and bool(int(ntds.first("options", "0") or 0) & NTDSDSA_OPT_IS_GC)
    except (TypeError, ValueError):
        return False


@dataclass
class GcListener(DcListener):
    """A DcListener whose sessions are Global Catalog sessions."""

    def new_session(self, tls: bool) -> LdapSession:
        return LdapSession(self.dc, tls=tls, gc=True)

    async def start(self) -> None:
        await super().start()
        ports = self.bound_ports
        self.port = ports[0]
        if self.ldaps_port is not None and len(ports) > 1:
            self.ldaps_port = ports[1]
