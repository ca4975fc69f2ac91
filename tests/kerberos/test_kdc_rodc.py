"""An RODC's KDC (MS-KILE 3.1.5.8, MS-ADTS 3.1.1.3.4.1.23): it signs TGTs with its own krbtgt_NNNNN (the number
in the kvno's high 16 bits), answers only for accounts whose secrets its PRP let it cache, and writable DCs
hold that krbtgt_NNNNN key (so they can read its TGTs)."""

from __future__ import annotations

from pathlib import Path

import pytest
from impacket.krb5 import crypto
from impacket.krb5.asn1 import AS_REP
from krb_client import as_req, error_code, open_as_rep
from pyasn1.codec.der import decoder

from dcemu.dsa import ops, rodc
from dcemu.kerberos import keys, principals
from dcemu.kerberos.kdc import Kdc
from dcemu.kerberos.tickets import RODC_KVNO_SHIFT, decrypt_ticket
from dcemu.lab.lab import Lab

BASE = "DC=corp,DC=example,DC=com"
ALICE = f"CN=alice,CN=Users,{BASE}"
PASSWORD = "Rodc-Alice-Passw0rd1"


@pytest.fixture(scope="module")
def rodc_lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    lab = Lab.create(Path(tmp_path_factory.mktemp("kdc-rodc")) / "lab", seed=16)
    lab.add_host("HV01", os_version="2012R2")
    lab.add_dc("DC01", "HV01", ip="10.0.0.1")
    lab.add_dc("RODC1", "HV01", ip="10.0.0.3", read_only=True)
    dc1, ro = lab.dc("DC01"), lab.dc("RODC1")
    dc1.add_user("alice", PASSWORD)
    ops.modify(dc1.directory, ALICE, [ops.Change("replace", "userAccountControl", ("512",))], system=True)
    ops.modify(dc1.directory, f"CN=Allowed RODC Password Replication Group,CN=Users,{BASE}",
               [ops.Change("add", "member", (ALICE,))])
    lab.repl.replicate(ro, dc1)
    yield lab
    lab.close()


def _key(etype: int = 18) -> crypto.Key:
    return crypto.Key(etype, keys.string_to_key(etype, PASSWORD, "CORP.EXAMPLE.COMalice"))


def test_rodc_kdc_without_the_cached_secret_sends_the_client_elsewhere(rodc_lab: Lab) -> None:
    ro = rodc_lab.dc("RODC1")
    kdc = Kdc(ro.directory, rodc_lab.entropy.fork("t1"))
    assert error_code(kdc.handle(as_req("alice", key=_key(), now=kdc.ctx.now()))) == 29   # KDC_ERR_SVC_UNAVAILABLE


def test_rodc_tgt_uses_its_own_krbtgt_whose_key_writable_dcs_hold(rodc_lab: Lab) -> None:
    dc1, ro = rodc_lab.dc("DC01"), rodc_lab.dc("RODC1")
    rodc.cache_secret(ro, dc1, ALICE)
    kdc = Kdc(ro.directory, rodc_lab.entropy.fork("t2"))
    reply = kdc.handle(as_req("alice", key=_key(), now=kdc.ctx.now()))
    assert error_code(reply) is None, reply
    rep, _ = open_as_rep(reply, _key())
    number = kdc.ctx.rodc_number()
    assert number > 0 and int(rep["ticket"]["enc-part"]["kvno"]) >> RODC_KVNO_SHIFT == number
    own = principals.krbtgt_account(dc1.directory, number)
    assert decrypt_ticket(rep["ticket"], own).cname == (1, ["alice"])
    with pytest.raises(Exception):    # noqa: B017 - not the domain krbtgt's key
        decrypt_ticket(rep["ticket"], principals.krbtgt_account(dc1.directory))
    assert decoder.decode(reply, asn1Spec=AS_REP())[0]["crealm"] == "CORP.EXAMPLE.COM"
