"""Accounts whose Kerberos keys differ between DCs (what ``dcemu check`` reports): the logon-failure form of divergence.

For every account with a password on two or more DCs (an RODC that has not cached it is skipped: no secret is
not a different secret), the keys each replica holds (NT hash, AES256) and their version (unicodePwd's metadata
version) are compared.  A difference means that some DC's KDC refuses the password the others accept
(KDC_ERR_PREAUTH_FAILED) or cannot decrypt tickets the others issued (KRB_AP_ERR_MODIFIED): after a USN
rollback, a lost password change, or a clone whose machine account diverged.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..dsa import sam
from . import keys as krb_keys


def _fingerprint(obj: Any) -> tuple[str, int] | None:
    nt = sam.nt_hash(obj)
    if nt is None:
        return None
    aes = b""
    blob = obj.first("supplementalCredentials")
    if isinstance(blob, bytes):
        try:
            aes = krb_keys.stored_keys(blob).current.get(krb_keys.AES256, b"")
        except (ValueError, KeyError):
            aes = b""
    meta = obj.meta.get("unicodePwd")
    return hashlib.sha256(nt + aes).hexdigest()[:12], meta.version if meta is not None else 0


def key_differences(dcs: list[Any]) -> list[dict[str, Any]]:
    """[{account, dn, keys: {dc: {fingerprint, kvno}}}] for every account whose keys differ between ``dcs``."""
    seen: dict[str, dict[str, Any]] = {}
    for dc in dcs:
        d = dc.directory
        for obj in d.store.scan(nc=None, include_deleted=False):
            if obj.nc is None or "unicodePwd" not in obj.attrs:
                continue
            fp = _fingerprint(obj)
            if fp is None:
                continue
            entry = seen.setdefault(obj.guid, {"account": str(obj.first("sAMAccountName", "")), "dn": obj.dn,
                                               "keys": {}})
            entry["keys"][dc.name] = {"fingerprint": fp[0], "kvno": fp[1]}
    return [e for e in seen.values()
            if len(e["keys"]) > 1 and len({k["fingerprint"] for k in e["keys"].values()}) > 1]
