"""The sans-IO KDC (dcemu.kerberos) against a real provisioned DC: AS pre-authentication, Windows' errors and
their e-data, the PAC and its signatures, TGS, renewal and the 5-minute skew.

Sources: RFC 4120 3.1 / 3.3 / 5.9.1, MS-KILE 3.3.5.6 (AS), 3.3.5.7 (TGS), 2.2.1 (KERB-EXT-ERROR), MS-PAC 2.4-2.10.
"""

from __future__ import annotations

import datetime as _dt
import struct

import pytest
from impacket.krb5 import crypto
from impacket.krb5 import pac as ipac
from impacket.krb5.asn1 import ETYPE_INFO2, EncTicketPart
from krb_client import as_req, error_code, error_methods, open_as_rep
from pyasn1.codec.der import decoder

from dcemu.dsa import ops, sam
from dcemu.entropy import Entropy
from dcemu.ids import Sid
from dcemu.kerberos import keys, pac, principals
from dcemu.kerberos.kdc import Kdc
from dcemu.kerberos.tickets import decrypt_ticket

PASSWORD = "Kerb3ros-Passw0rd!"


@pytest.fixture
def kdc(dc) -> Kdc:
    dc.add_user("kuser", PASSWORD)
    dn = f"CN=kuser,CN=Users,{dc.domain_dn}"
    ops.modify(dc.directory, dn, [ops.Change("replace", "userAccountControl", ("512",))], system=True)
    return Kdc(dc.directory, Entropy(7).fork("kdc"))


def _key(etype: int, password: str = PASSWORD, salt: str = "CORP.EXAMPLE.COMkuser") -> crypto.Key:
    return crypto.Key(etype, keys.string_to_key(etype, password, salt))


def test_as_req_without_preauth_gets_preauth_required_with_etype_info2_salt(kdc: Kdc) -> None:
    """MS-KILE 3.3.5.6.1: KDC_ERR_PREAUTH_REQUIRED, e-data METHOD-DATA with PA-ETYPE-INFO2 (salt for AES)."""
    reply = kdc.handle(as_req("kuser", key=None, now=kdc.ctx.now()))
    assert error_code(reply) == 25
    methods = error_methods(reply)
    assert {2, 16, 15, 19} <= set(methods)
    info = decoder.decode(methods[19], asn1Spec=ETYPE_INFO2())[0]
    entries = {int(e["etype"]): (str(e["salt"]) if e["salt"].hasValue() else None) for e in info}
    assert entries == {18: "CORP.EXAMPLE.COMkuser", 17: "CORP.EXAMPLE.COMkuser", 23: None}


@pytest.mark.parametrize("etype", [18, 17, 23])
def test_as_req_with_the_right_key_returns_a_tgt_with_a_signed_pac(kdc: Kdc, dc, etype: int) -> None:
    key = _key(etype)
    reply = kdc.handle(as_req("kuser", key=key, now=kdc.ctx.now(), etypes=(etype,)))
    assert error_code(reply) is None
    rep, enc = open_as_rep(reply, key)
    assert str(enc["srealm"]) == "CORP.EXAMPLE.COM"
    krbtgt = principals.krbtgt_account(dc.directory)
    assert int(rep["ticket"]["enc-part"]["etype"]) == 18          # TGTs: krbtgt's AES256 key
    assert int(rep["ticket"]["enc-part"]["kvno"]) == krbtgt.kvno
    ticket = decrypt_ticket(rep["ticket"], krbtgt)
    assert ticket.cname == (1, ["kuser"])
    assert ticket.key.contents == bytes(enc["key"]["keyvalue"])
    buffers = pac.parse(ticket.pac)
    pac.verify_kdc_signature(buffers, krbtgt.keys)
    info = ipac.VALIDATION_INFO()
    info.fromString(buffers[ipac.PAC_LOGON_INFO])
    info.fromStringReferents(buffers[ipac.PAC_LOGON_INFO], len(info.getData()))
    data = info["Data"]
    user = next(o for o in dc.directory.lookup("sAMAccountName", "kuser") if not o.deleted)
    assert data["UserId"] == Sid.from_bytes(user.first("objectSid")).rid
    assert data["PrimaryGroupId"] == 513
    assert 513 in [g["RelativeId"] for g in data["GroupIds"]]
    assert pac.client_name(buffers) == "kuser"


def test_wrong_password_is_preauth_failed_and_unknown_user_c_principal_unknown(kdc: Kdc) -> None:
    wrong = kdc.handle(as_req("kuser", key=_key(18, "Not-The-Passw0rd"), now=kdc.ctx.now()))
    assert error_code(wrong) == 24
    assert error_code(kdc.handle(as_req("nobody", key=_key(18), now=kdc.ctx.now()))) == 6


def test_disabled_account_is_client_revoked_with_ntstatus(kdc: Kdc, dc) -> None:
    """MS-KILE 2.2.1: KERB-EXT-ERROR in PA-PW-SALT carries STATUS_ACCOUNT_DISABLED."""
    ops.modify(dc.directory, f"CN=kuser,CN=Users,{dc.domain_dn}",
               [ops.Change("replace", "userAccountControl", ("514",))], system=True)
    reply = kdc.handle(as_req("kuser", key=_key(18), now=kdc.ctx.now()))
    assert error_code(reply) == 18
    status = struct.unpack_from("<L", error_methods(reply)[3])[0]
    assert status == 0xC0000072


def test_clock_skew_beyond_five_minutes_is_krb_ap_err_skew(kdc: Kdc) -> None:
    late = kdc.ctx.now() + _dt.timedelta(minutes=6)
    assert error_code(kdc.handle(as_req("kuser", key=_key(18), now=late))) == 37
    near = kdc.ctx.now() + _dt.timedelta(minutes=4)
    assert error_code(kdc.handle(as_req("kuser", key=_key(18), now=near))) is None


def test_dont_require_preauth_answers_without_a_timestamp(kdc: Kdc, dc) -> None:
    """UF_DONT_REQUIRE_PREAUTH (0x400000): the AS-REP comes without pre-authentication (AS-REP roasting)."""
    ops.modify(dc.directory, f"CN=kuser,CN=Users,{dc.domain_dn}",
               [ops.Change("replace", "userAccountControl", (str(512 | 0x400000),))], system=True)
    reply = kdc.handle(as_req("kuser", key=None, now=kdc.ctx.now(), etypes=(23,)))
    _rep, enc = open_as_rep(reply, _key(23))
    assert int(enc["key"]["keytype"]) in (18, 17, 23)


def test_password_reset_changes_the_key_the_kdc_accepts(kdc: Kdc, dc) -> None:
    """The KDC reads the replica on each request: after a reset only the new password pre-authenticates."""
    ops.modify(dc.directory, f"CN=kuser,CN=Users,{dc.domain_dn}",
               [ops.Change("replace", "unicodePwd", (sam.quoted_password("Brand-N3w-Secret!"),))], system=True)
    assert error_code(kdc.handle(as_req("kuser", key=_key(18), now=kdc.ctx.now()))) == 24
    assert error_code(kdc.handle(as_req("kuser", key=_key(18, "Brand-N3w-Secret!"), now=kdc.ctx.now()))) is None


def test_garbage_gets_a_krb_error_and_the_kdc_keeps_serving(kdc: Kdc) -> None:
    for junk in (b"", b"\x6a\x03\x02\x01", b"\x00" * 40, b"\x6c\x82\xff\xff" + b"A" * 10):
        assert error_code(kdc.handle(junk)) == 60
    assert error_code(kdc.handle(as_req("kuser", key=_key(18), now=kdc.ctx.now()))) is None


def test_pac_server_signature_uses_the_service_key_ms_pac_2_8(kdc: Kdc, dc) -> None:
    """For a TGT the service is krbtgt: both signatures verify with krbtgt's AES256 key."""
    reply = kdc.handle(as_req("kuser", key=_key(18), now=kdc.ctx.now()))
    rep, _ = open_as_rep(reply, _key(18))
    krbtgt = principals.krbtgt_account(dc.directory)
    ticket = decrypt_ticket(rep["ticket"], krbtgt)
    buffers = pac.parse(ticket.pac)
    zeroed = dict(buffers)
    for t in (ipac.PAC_SERVER_CHECKSUM, ipac.PAC_PRIVSVR_CHECKSUM):
        zeroed[t] = buffers[t][:4] + b"\x00" * (len(buffers[t]) - 4)
    blob = ipac.build_pac_type(zeroed, buffer_order=pac.ORDER).getData()
    stype = struct.unpack_from("<l", buffers[ipac.PAC_SERVER_CHECKSUM])[0]
    crypto.verify_checksum(stype, crypto.Key(18, krbtgt.keys[18]), 17, blob, buffers[ipac.PAC_SERVER_CHECKSUM][4:])
    assert decoder.decode(crypto.decrypt(crypto.Key(18, krbtgt.keys[18]), 2, bytes(rep["ticket"]["enc-part"]["cipher"])),
                          asn1Spec=EncTicketPart())[0]["crealm"] == "CORP.EXAMPLE.COM"
