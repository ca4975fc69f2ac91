"""A live DC's listeners beyond LDAP/LDAPS: CLDAP (UDP 389) and the Global Catalog (3268/3269).

``start_extra_listeners`` runs when a DC starts serving (dcemu.runtime.live): every DC answers LDAP
pings on UDP ``base+389`` (MS-ADTS 6.3.3); a DC whose NTDS Settings has options IS_GC (0x1) also
serves the Global Catalog on ``base+3268`` and, with TLS, ``base+3269`` (MS-ADTS 3.1.1.1.x: the
GC's partial attribute set over the whole forest, read-only).  ``base`` is 0 when the process may
bind well-known ports, else ``--port-base``.  ``services_of`` is the ``services`` entry HELPERS.md's
convention puts in ``lab status --json``.
"""

from __future__ import annotations

import ssl
from typing import Any

from ..errors import DcemuError
from .cldap_listener import CldapListener
from .gc_listener import GcListener, is_global_catalog


def _netlogon_running(live: Any, name: str) -> bool:
    guest = live.lab.guest(name) if live.lab is not None else None
    system = getattr(guest, "system", None) if guest is not None else None
    return system is None or system.services.get("Netlogon", "Running") == "Running"


async def start_extra_listeners(live: Any, name: str, dc: Any, address: str, base: int,
                                ctx: ssl.SSLContext | None) -> dict[str, Any]:
    """Start CLDAP and (on a GC) the Global Catalog ports for ``dc``; returns them by service name."""
    out: dict[str, Any] = {}
    try:
        cldap = CldapListener(dc, address, base + 389, lambda: _netlogon_running(live, name))
        await cldap.start()
        out["cldap"] = cldap
        if is_global_catalog(dc):
            gc = GcListener(dc, address, base + 3268, base + 3269 if ctx else None, ctx)
            await gc.start()
            out["gc"] = gc
    except OSError as exc:
        await close_extra_listeners(out)
        raise DcemuError(f"{name}: cannot listen on {address} (CLDAP UDP {base + 389}, GC {base + 3268}/"
                         f"{base + 3269}): {exc.strerror or exc}; use --port-base N") from None
    return out


async def close_extra_listeners(extra: dict[str, Any]) -> None:
    for listener in list(extra.values()):
        await listener.close()
    extra.clear()


def services_of(endpoint: Any) -> dict[str, dict[str, Any]]:
    """``{"ldap": {"address", "port", "transport"}, ...}`` for one DC (HELPERS.md convention)."""
    a = endpoint.address
    out: dict[str, dict[str, Any]] = {}
    if endpoint.listener is None:
        return out
    out["ldap"] = {"address": a, "port": endpoint.ldap_port, "transport": "tcp"}
    if endpoint.ldaps_port:
        out["ldaps"] = {"address": a, "port": endpoint.ldaps_port, "transport": "tcp"}
    cldap = endpoint.extra.get("cldap")
    if cldap is not None:
        out["cldap"] = {"address": a, "port": cldap.port, "transport": "udp"}
    gc = endpoint.extra.get("gc")
    if gc is not None:
        out["gc"] = {"address": a, "port": gc.port, "transport": "tcp"}
        if gc.ldaps_port:
            out["gcs"] = {"address": a, "port": gc.ldaps_port, "transport": "tcp"}
    return out
