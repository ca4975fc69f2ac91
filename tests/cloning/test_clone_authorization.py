"""Who may clone: the DS-Clone-Domain-Controller ACE on the domain head, read by the PDC (R-CLONE-03, R-ACDC-02).

These run IDL_DRSAddCloneDC's server side on a bare provisioned DC (the pytest plugin's ``dc``:
DC01, the PDC emulator of a one-DC forest) with DC01's own account as the caller.
"""

from __future__ import annotations

import pytest

from dcemu.cloning.pdc import (
    AddCloneDcError,
    DrsAddCloneDcRequest,
    add_clone_dc,
    may_clone,
)
from dcemu.dsa import ops
from dcemu.dsa.security import (
    ADS_RIGHT_DS_CONTROL_ACCESS,
    DS_CLONE_DOMAIN_CONTROLLER,
    _ace,
    _object_ace,
    build_descriptor,
    control_access_grantees,
    parse_descriptor,
)
from dcemu.ids import Sid

DOMAIN = "DC=corp,DC=example,DC=com"
CLONEABLE = f"CN=Cloneable Domain Controllers,CN=Users,{DOMAIN}"
DC01 = f"CN=DC01,OU=Domain Controllers,{DOMAIN}"


def _sid(d, dn: str) -> Sid:  # noqa: ANN001
    return Sid.from_bytes(d.find(dn).first("objectSid"))


def _add_member(d, group: str, member: str) -> None:  # noqa: ANN001
    ops.modify(d, group, [ops.Change("add", "member", (member,))])


def test_the_ace_on_the_domain_head_grants_cloneable_domain_controllers(dc) -> None:  # noqa: ANN001
    d = dc.directory
    head = d.find(DOMAIN)
    grantees = control_access_grantees(head.first("nTSecurityDescriptor"), DS_CLONE_DOMAIN_CONTROLLER)
    group_sid = _sid(d, CLONEABLE)
    # The object ACE for the right names Cloneable Domain Controllers; the generic ACEs of Domain and
    # Enterprise Admins, Administrators and SYSTEM carry every extended right (CR) too; Authenticated
    # Users only read (the 2012 R2 default domain-head descriptor, dcemu.dsa.default_sds).
    assert group_sid.rid == 522 and group_sid in grantees
    assert {g.text.rsplit("-", 1)[-1] for g in grantees} == {"522", "512", "519", "544", "18"}
    right = d.find(f"CN=DS-Clone-Domain-Controller,CN=Extended-Rights,CN=Configuration,{DOMAIN}")
    assert right.first("rightsGuid") == str(DS_CLONE_DOMAIN_CONTROLLER)
    assert right.first("appliesTo") == "19195a5b-6da0-11d0-afd3-00c04fd930c9"       # domainDNS


def test_members_and_nested_members_may_clone(dc) -> None:  # noqa: ANN001
    d = dc.directory
    computer = d.find(DC01)
    assert not may_clone(d, computer)                    # the group is empty by default
    nested = f"CN=Branch DCs,CN=Users,{DOMAIN}"
    ops.add(d, nested, {"objectClass": ["group"]})
    _add_member(d, nested, DC01)
    _add_member(d, CLONEABLE, nested)
    assert may_clone(d, d.find(DC01))


def test_the_right_comes_from_the_ace_not_from_the_group_name(dc) -> None:  # noqa: ANN001
    """Remove the ACE (keep the membership): refused.  Grant the right to another group: allowed."""
    d = dc.directory
    _add_member(d, CLONEABLE, DC01)
    assert may_clone(d, d.find(DC01))
    domain_sid = str(d.store.state("domainSid"))
    sd = parse_descriptor(d.find(DOMAIN).first("nTSecurityDescriptor"))
    kept = [a for a in sd["Dacl"].aces if a["AceType"] != 0x05]          # drop ACCESS_ALLOWED_OBJECT_ACEs
    ops.modify(d, DOMAIN, [ops.Change("replace", "nTSecurityDescriptor",
                                      (build_descriptor(f"{domain_sid}-512", kept),))], system=True)
    assert not may_clone(d, d.find(DC01))
    other = f"CN=Clone Operators,CN=Users,{DOMAIN}"
    ops.add(d, other, {"objectClass": ["group"]})
    _add_member(d, other, DC01)
    granted = [*kept, _object_ace(str(_sid(d, other)), ADS_RIGHT_DS_CONTROL_ACCESS, DS_CLONE_DOMAIN_CONTROLLER)]
    ops.modify(d, DOMAIN, [ops.Change("replace", "nTSecurityDescriptor",
                                      (build_descriptor(f"{domain_sid}-512", granted),))], system=True)
    assert may_clone(d, d.find(DC01))
    # a plain allow ACE with the control-access bit grants every extended right, this one included
    ops.modify(d, DOMAIN, [ops.Change("replace", "nTSecurityDescriptor",
                                      (build_descriptor(f"{domain_sid}-512", kept),))], system=True)
    assert not may_clone(d, d.find(DC01))
    plain = [*kept, _ace(str(_sid(d, other)), ADS_RIGHT_DS_CONTROL_ACCESS)]
    ops.modify(d, DOMAIN, [ops.Change("replace", "nTSecurityDescriptor",
                                      (build_descriptor(f"{domain_sid}-512", plain),))], system=True)
    assert may_clone(d, d.find(DC01))


def test_add_clone_dc_refuses_an_unauthorized_caller_8453(dc) -> None:  # noqa: ANN001
    d = dc.directory
    with pytest.raises(AddCloneDcError) as err:
        add_clone_dc(dc, DrsAddCloneDcRequest(), _sid(d, DC01))
    assert err.value.win32 == 8453
    assert d.find(f"CN=DC01-CL0001,OU=Domain Controllers,{DOMAIN}") is None


def test_add_clone_dc_refuses_callers_that_are_not_dcs(dc) -> None:  # noqa: ANN001
    d = dc.directory
    user = dc.add_user("mallory", "Secr3t!Passw0rd")
    _add_member(d, CLONEABLE, user)
    for caller in (_sid(d, user), Sid(f"{d.store.state('domainSid')}-99999")):
        with pytest.raises(AddCloneDcError) as err:
            add_clone_dc(dc, DrsAddCloneDcRequest(), caller)
        assert err.value.win32 == 8453


def test_authorized_calls_create_distinct_dcs(dc) -> None:  # noqa: ANN001
    d = dc.directory
    _add_member(d, CLONEABLE, DC01)
    first = add_clone_dc(dc, DrsAddCloneDcRequest(), _sid(d, DC01))
    second = add_clone_dc(dc, DrsAddCloneDcRequest("CLONEDC2"), _sid(d, DC01))
    assert (first.clone_dc_name, second.clone_dc_name) == ("DC01-CL0001", "CLONEDC2")
    assert first.site == second.site == "Default-First-Site-Name"
    assert len({first.object_sid, second.object_sid, str(_sid(d, DC01))}) == 3
    assert len({first.dsa_guid, second.dsa_guid, d.dsa_guid}) == 3
    assert first.invocation_id != second.invocation_id and first.password != second.password
    for reply in (first, second):
        computer = d.find(reply.computer_dn)
        assert str(Sid.from_bytes(computer.first("objectSid"))) == reply.object_sid
        assert d.get(reply.dsa_guid).dn == reply.ntds_settings_dn
        from dcemu.dsa.sam import verify_password
        assert verify_password(computer, reply.password)


@pytest.mark.parametrize("name, why", [("THIS-NAME-IS-TOO-LONG", "longer than 15"), ("dc9.corp.lan", "FQDN"),
                                       ("DC01", "already exists")])
def test_requested_names_must_be_valid_and_unused_8437(dc, name: str, why: str) -> None:  # noqa: ANN001
    d = dc.directory
    _add_member(d, CLONEABLE, DC01)
    with pytest.raises(AddCloneDcError) as err:
        add_clone_dc(dc, DrsAddCloneDcRequest(name), _sid(d, DC01))
    assert err.value.win32 == 8437
    assert (why if why != "FQDN" else "NetBIOS") in err.value.detail
