"""A DC's Key Distribution Center, sans-IO: one KDC-REQ's bytes in, one reply's bytes out (RFC 4120, MS-KILE).

``Kdc(directory, entropy).handle(data)`` answers an AS-REQ or a TGS-REQ from the DC's own replica, or a
KRB-ERROR; it never raises for bad input.  dcemu.runtime.kdc carries the bytes over UDP and TCP 88 (and
kpasswd on 464, dcemu.kerberos.kpasswd).
"""

from __future__ import annotations

import datetime as _dt
import logging
from typing import TYPE_CHECKING

from impacket.krb5.asn1 import AS_REQ, TGS_REQ
from pyasn1.codec.der import decoder
from pyasn1.error import PyAsn1Error

from .asreq import handle_as
from .errors import KRB_ERR_GENERIC, KRB_ERR_RESPONSE_TOO_BIG, KdcError
from .replies import encode_error
from .tgs import handle_tgs
from .tickets import KdcContext

if TYPE_CHECKING:
    from ..dsa.directory import Directory
    from ..entropy import Entropy

log = logging.getLogger("dcemu.kerberos")
AS_REQ_TAG, TGS_REQ_TAG = 0x6A, 0x6C


class Kdc:
    """The KDC of one DC (its directory, its clock, its random stream)."""

    def __init__(self, directory: Directory, entropy: Entropy, *, offset: _dt.timedelta = _dt.timedelta(0)) -> None:
        self.ctx = KdcContext(directory, entropy, offset)
        self.counts = {"as": 0, "tgs": 0, "error": 0}

    @property
    def offset(self) -> _dt.timedelta:
        return self.ctx.offset

    @offset.setter
    def offset(self, value: _dt.timedelta) -> None:
        self.ctx.offset = value

    def handle(self, data: bytes) -> bytes:
        """Answer one KDC-REQ (the DER bytes, without TCP's length prefix)."""
        if not data:
            return encode_error(self.ctx, KdcError(KRB_ERR_GENERIC, "empty request"))
        tag = data[0]
        spec, handler, kind = ((AS_REQ(), handle_as, "as") if tag == AS_REQ_TAG else
                               (TGS_REQ(), handle_tgs, "tgs") if tag == TGS_REQ_TAG else (None, None, "error"))
        if spec is None:
            self.counts["error"] += 1
            return encode_error(self.ctx, KdcError(KRB_ERR_GENERIC, "not a KDC request"))
        try:
            req = decoder.decode(data, asn1Spec=spec)[0]
        except (PyAsn1Error, ValueError):
            self.counts["error"] += 1
            return encode_error(self.ctx, KdcError(KRB_ERR_GENERIC, "request does not decode"))
        try:
            out = handler(self.ctx, req)
        except KdcError as err:
            self.counts["error"] += 1
            return encode_error(self.ctx, err, req["req-body"])
        except (PyAsn1Error, ValueError, KeyError, IndexError, TypeError) as exc:
            # Malformed but decodable input: a generic error, the KDC keeps serving.
            log.debug("KDC request failed", exc_info=exc)
            self.counts["error"] += 1
            return encode_error(self.ctx, KdcError(KRB_ERR_GENERIC, "malformed request"), req["req-body"])
        self.counts[kind] += 1
        return out

    def too_big(self) -> bytes:
        """KRB_ERR_RESPONSE_TOO_BIG: a UDP reply that does not fit; the client retries over TCP (RFC 4120 7.2.1)."""
        return encode_error(self.ctx, KdcError(KRB_ERR_RESPONSE_TOO_BIG, "response too big for UDP"))
