"""Issue 15 point 5: a fresh 2012 R2 forest's default content, the domain head's descriptor as clients read it,
and the logon statistics a bind writes (MS-ADTS 6.1.1.4, 3.1.1.3.4.1.11, msDS-LogonTimeSyncInterval)."""

from __future__ import annotations

import datetime as _dt
import uuid
from pathlib import Path

import ldap3
import pytest
from ldap3.protocol.microsoft import security_descriptor_control

from dcemu.clock import to_filetime
from dcemu.dsa import default_sds, defaults, ops
from dcemu.dsa.security import control_access_grantees, parse_descriptor
from dcemu.ids import Sid
from dcemu.lab.sysvol_disk import write_sysvol
from dcemu.runtime.threaded import serve

ADMIN = "Administrator@corp.example.com"
PASSWORD = "Passw0rd!"


@pytest.fixture
def served(dc, tmp_path):
    with serve(dc, cert_dir=tmp_path / "certs") as s:
        yield s.served[0]


def _conn(served, user: str = ADMIN, password: str = PASSWORD) -> ldap3.Connection:
    return ldap3.Connection(ldap3.Server(served.ldap_url, get_info=ldap3.NONE), user=user, password=password,
                            auto_bind=True)


def _domain_sid(dc) -> Sid:
    return Sid(str(dc.directory.store.state("domainSid")))


def test_the_two_default_gpos_exist_and_are_linked(dc) -> None:
    d = dc.directory
    base = dc.domain_dn
    ddp = d.find(f"CN={defaults.DEFAULT_DOMAIN_POLICY},CN=Policies,CN=System,{base}")
    ddcp = d.find(f"CN={defaults.DEFAULT_DC_POLICY},CN=Policies,CN=System,{base}")
    assert ddp is not None and ddcp is not None
    assert ddp.first("displayName") == "Default Domain Policy"
    assert ddcp.first("displayName") == "Default Domain Controllers Policy"
    assert ddp.first("gPCFileSysPath") == ("\\\\corp.example.com\\sysvol\\corp.example.com\\Policies\\"
                                           "{31B2F340-016D-11D2-945F-00C04FB984F9}")
    assert (ddp.first("versionNumber"), ddp.first("flags"), ddp.first("gPCFunctionalityVersion")) == ("3", "0", "2")
    assert "groupPolicyContainer" in ddp.attrs["objectClass"]
    assert d.find(f"CN=Machine,{ddp.dn}") is not None and d.find(f"CN=User,{ddcp.dn}") is not None
    assert d.find(base).first("gPLink") == f"[LDAP://{ddp.dn};0]"
    assert d.find(f"OU=Domain Controllers,{base}").first("gPLink") == f"[LDAP://{ddcp.dn};0]"


def test_sysvol_folders_hold_gpt_ini_with_the_containers_version(tmp_path: Path, dc) -> None:
    root = write_sysvol(tmp_path / "disk")
    for name, _display, version, _cses in defaults.DEFAULT_GPOS:
        gpt = (root / "domain" / "Policies" / name / "GPT.INI").read_bytes()
        stored = dc.directory.find(f"CN={name},CN=Policies,CN=System,{dc.domain_dn}").first("versionNumber")
        assert gpt == f"[General]\r\nVersion={stored}\r\n".encode() and int(stored) == version
    inf = (root / "domain/Policies" / defaults.DEFAULT_DOMAIN_POLICY / "MACHINE/Microsoft/Windows NT/SecEdit"
           / "GptTmpl.inf").read_bytes().decode("utf-16")
    assert "MinimumPasswordLength = 7" in inf and "PasswordHistorySize = 24" in inf


def test_the_domain_head_grants_dcsync_as_a_2012r2_domain(dc) -> None:
    """DS-Replication-Get-Changes(-All/-In-Filtered-Set) for Administrators, Domain Controllers, Enterprise DCs."""
    head = dc.directory.find(dc.domain_dn)
    sd = bytes(head.first("nTSecurityDescriptor"))
    dom = _domain_sid(dc)

    def grantees(right: str) -> set[str]:
        return {str(s) for s in control_access_grantees(sd, uuid.UUID(right))}
    assert {"S-1-5-32-544", "S-1-5-9", f"{dom}-498"} <= grantees(default_sds.GET_CHANGES)
    assert {"S-1-5-32-544", f"{dom}-516"} <= grantees(default_sds.GET_CHANGES_ALL)
    assert "S-1-5-9" not in grantees(default_sds.GET_CHANGES_ALL)
    assert {"S-1-5-32-544", "S-1-5-9"} <= grantees(default_sds.GET_CHANGES_IN_FILTERED_SET)
    assert f"{dom}-522" in grantees(default_sds.CLONE_DC)             # R-CLONE-03 still holds
    parsed = parse_descriptor(sd)
    assert parsed["OwnerSid"].formatCanonical() == "S-1-5-32-544" and parsed["Sacl"]


def test_nt_security_descriptor_is_returned_for_star_in_the_parts_the_caller_may_read(served, dc) -> None:
    """MS-ADTS 3.1.1.3.4.1.11: with the SD flags control the descriptor comes for ``*`` too; without it
    only when named, and then as all four parts; the SACL needs SeSecurityPrivilege."""
    admin = _conn(served)
    admin.search(dc.domain_dn, "(objectClass=*)", ldap3.BASE, attributes=["*"])
    assert not admin.response[0]["raw_attributes"].get("nTSecurityDescriptor")   # not named, no control
    admin.search(dc.domain_dn, "(objectClass=*)", ldap3.BASE, attributes=["*"],
                 controls=security_descriptor_control(sdflags=0x0F))
    full = parse_descriptor(admin.response[0]["raw_attributes"]["nTSecurityDescriptor"][0])
    assert full["Sacl"] and full["Dacl"] and full["OwnerSid"]
    admin.search(dc.domain_dn, "(objectClass=*)", ldap3.BASE, attributes=["nTSecurityDescriptor"])
    named = parse_descriptor(admin.response[0]["raw_attributes"]["nTSecurityDescriptor"][0])
    assert named["Sacl"] and named["Dacl"]
    ops.add(dc.directory, f"CN=reader,CN=Users,{dc.domain_dn}",
            {"objectClass": ["user"], "sAMAccountName": ["reader"],
             "unicodePwd": ['"Rd-Passw0rd!"'.encode("utf-16-le")], "userAccountControl": ["512"]}, system=True)
    user = _conn(served, "reader@corp.example.com", "Rd-Passw0rd!")
    user.search(dc.domain_dn, "(objectClass=*)", ldap3.BASE, attributes=["*"])
    assert not user.response[0]["raw_attributes"].get("nTSecurityDescriptor")
    user.search(dc.domain_dn, "(objectClass=*)", ldap3.BASE, attributes=["nTSecurityDescriptor"],
                controls=security_descriptor_control(sdflags=0x07))
    part = parse_descriptor(user.response[0]["raw_attributes"]["nTSecurityDescriptor"][0])
    assert part["Dacl"] and part["OwnerSid"] and not part["Sacl"]
    user.search(dc.domain_dn, "(objectClass=*)", ldap3.BASE, attributes=["nTSecurityDescriptor"],
                controls=security_descriptor_control(sdflags=0x0F))
    assert not user.response[0]["raw_attributes"].get("nTSecurityDescriptor")


def test_foreign_security_principals_pki_and_builtin_descriptions(dc) -> None:
    d = dc.directory
    base = dc.domain_dn
    for sid, groups in defaults.WELL_KNOWN_FSPS.items():
        fsp = d.find(f"CN={sid},CN=ForeignSecurityPrincipals,{base}")
        assert fsp is not None and Sid.from_bytes(bytes(fsp.first("objectSid"))) == Sid(sid)
        for group in groups:
            assert fsp.dn.lower() in {m.lower() for m in d.links(d.find(f"CN={group},CN=Builtin,{base}"), "member")}
    config = str(d.store.state("configurationNamingContext"))
    assert d.find(f"CN=Certificate Templates,CN=Public Key Services,CN=Services,{config}") is not None
    assert d.find(f"CN=Administrators,CN=Builtin,{base}").first("description") == \
        "Administrators have complete and unrestricted access to the computer/domain"


def test_the_domain_head_carries_its_sam_fields(dc) -> None:
    head = dc.directory.find(dc.domain_dn)
    assert (head.first("nextRid"), head.first("serverState"), head.first("uASCompat")) == ("1001", "1", "1")
    assert bytes(head.first("auditingPolicy")) == b"\x00\x01" and head.first("modifiedCount") == "1"
    assert 0 < int(head.first("creationTime")) <= to_filetime(dc.directory.clock.now())


def test_a_bind_writes_lastlogon_every_time_and_lastlogontimestamp_per_sync_interval(served, dc,
                                                                                       virtual_clock) -> None:
    """lastLogon (not replicated: no stamp) on each logon; lastLogonTimestamp only when older than
    msDS-LogonTimeSyncInterval (14 days) minus 0-5 random days."""
    d = dc.directory
    admin_dn = f"CN=Administrator,CN=Users,{dc.domain_dn}"
    _conn(served).unbind()
    first = d.find(admin_dn)
    t0 = to_filetime(virtual_clock.now())
    assert int(first.first("lastLogon")) == t0 and int(first.first("lastLogonTimestamp")) == t0
    assert first.first("logonCount") == "1"
    assert "lastLogon" not in first.meta and "lastLogonTimestamp" in first.meta

    virtual_clock.advance(3 * 86400)
    _conn(served).unbind()
    again = d.find(admin_dn)
    assert int(again.first("lastLogon")) == to_filetime(virtual_clock.now())
    assert int(again.first("lastLogonTimestamp")) == t0 and again.first("logonCount") == "2"

    virtual_clock.advance(12 * 86400)            # 15 days after t0: past 14 days minus any spread
    _conn(served).unbind()
    assert int(d.find(admin_dn).first("lastLogonTimestamp")) == to_filetime(virtual_clock.now())


def test_a_zero_sync_interval_never_writes_lastlogontimestamp(served, dc, virtual_clock) -> None:
    ops.modify(dc.directory, dc.domain_dn, [ops.Change("replace", "msDS-LogonTimeSyncInterval", ("0",))],
               system=True)
    virtual_clock.advance(_dt.timedelta(days=1).total_seconds())
    _conn(served).unbind()
    admin = dc.directory.find(f"CN=Administrator,CN=Users,{dc.domain_dn}")
    assert admin.first("lastLogon") is not None and admin.first("lastLogonTimestamp") is None
