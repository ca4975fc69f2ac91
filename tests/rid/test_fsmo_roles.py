"""FSMO roles: owners, transfer (rootDSE becomeXxx), seizure and revalidation after a restore (R-SAFE-06)."""

from __future__ import annotations

import pytest
from rid_helpers import add_dc_objects, copy_dc, create_user

from dcemu.fsmo import (
    ROLES,
    FsmoError,
    Role,
    holds,
    mark_roles_unverified,
    mark_roles_verified,
    require_role_usable,
    role_object_dn,
    role_owner,
    roles_held,
    roles_verified,
    seize,
    transfer,
    unverified_ncs,
)
from dcemu.ids import Sid
from dcemu.repl.codes import EXOP_ERR_FSMO_NOT_OWNER
from dcemu.rid import service
from dcemu.rid.exop import build_request, in_process_transport, process_rid_alloc
from dcemu.service.rootdse_ops import handle_rootdse_operation


def _domain_sid(dc) -> Sid:
    return Sid(str(dc.directory.store.state("domainSid")))


def _locate(*dcs):
    return lambda dn: next((x for x in dcs if x.identity.ntds_settings_dn.lower() == dn.lower()), None)


def _value(role: Role, dc):
    return _domain_sid(dc).to_bytes() if role is Role.PDC else "1"


def test_role_objects_and_owners_after_provisioning(rid_dc) -> None:
    domain = rid_dc.domain_dn
    expected = {Role.SCHEMA: f"CN=Schema,CN=Configuration,{domain}",
                Role.NAMING: f"CN=Partitions,CN=Configuration,{domain}",
                Role.PDC: domain,
                Role.RID: f"CN=RID Manager$,CN=System,{domain}",
                Role.INFRASTRUCTURE: f"CN=Infrastructure,{domain}"}
    for role, dn in expected.items():
        assert role_object_dn(rid_dc, role) == dn
        assert role_owner(rid_dc, role) == rid_dc.identity.ntds_settings_dn
    assert roles_held(rid_dc) == list(Role)
    assert {i.rootdse_operation for i in ROLES.values()} == {
        "becomeSchemaMaster", "becomeDomainMaster", "becomePdc", "becomeRidMaster", "becomeInfrastructureMaster"}


@pytest.mark.parametrize("role", list(Role))
def test_transfer_each_role_with_the_rootdse_operation(rid_dc, dc2, role: Role) -> None:
    d = rid_dc.directory
    before = d.find(role_object_dn(rid_dc, role))
    operation = ROLES[role].rootdse_operation
    assert handle_rootdse_operation(dc2, operation, _value(role, rid_dc), locate=_locate(rid_dc))
    assert role_owner(rid_dc, role) == dc2.identity.ntds_settings_dn
    assert holds(dc2, role) and not holds(rid_dc, role)
    after = d.find(role_object_dn(rid_dc, role))
    # An originating write by the old owner (the EXOP server): one USN, the stamp moves on.
    assert after.meta["fSMORoleOwner"].version == before.meta["fSMORoleOwner"].version + 1
    assert after.meta["fSMORoleOwner"].invocation_id == d.invocation_id
    # Asking again on the new owner changes nothing.
    usn = d.highest_committed_usn
    assert handle_rootdse_operation(dc2, operation.upper(), _value(role, rid_dc), locate=_locate(rid_dc))
    assert d.highest_committed_usn == usn
    # And the role goes back the same way.
    handle_rootdse_operation(rid_dc, operation, _value(role, rid_dc), locate=_locate(dc2))
    assert holds(rid_dc, role)


def test_become_pdc_needs_the_domain_sid(rid_dc, dc2) -> None:
    for wrong in ("1", Sid("S-1-5-21-9-9-9").to_bytes(), None):
        with pytest.raises(FsmoError) as info:
            handle_rootdse_operation(dc2, "becomePdc", wrong, locate=_locate(rid_dc))
        assert info.value.win32 == 0x57
    assert holds(rid_dc, Role.PDC)


def test_transfer_needs_a_reachable_owner(rid_dc, dc2) -> None:
    for locate in (None, lambda dn: None):
        with pytest.raises(FsmoError) as info:
            handle_rootdse_operation(dc2, "becomeRidMaster", "1", locate=locate)
        assert info.value.win32 == 8367 and info.value.result_code == 53   # ERROR_DS_COULDNT_CONTACT_FSMO
    assert holds(rid_dc, Role.RID)


def test_transfer_refusals(rid_dc, dc2) -> None:
    with pytest.raises(FsmoError) as not_owner:
        transfer(Role.SCHEMA, dc2, rid_dc)          # DC02 does not hold it
    assert not_owner.value.win32 == 8210 and not_owner.value.exop_error == EXOP_ERR_FSMO_NOT_OWNER
    from rid_helpers import DcView

    from dcemu.dsa.provision import dc_identity
    ghost_id = dc_identity(rid_dc.directory, "GHOST", "Default-First-Site-Name",
                           dsa_guid="0badc0de-0000-4000-8000-000000000002", invocation_id="0badc0de-0000-4000-8000-000000000002")
    with pytest.raises(FsmoError) as unknown:
        transfer(Role.SCHEMA, rid_dc, DcView(rid_dc.directory, ghost_id))
    assert unknown.value.win32 == 8453
    assert holds(rid_dc, Role.SCHEMA)


def test_rid_master_transfer_moves_the_pool_service(rid_dc, dc2, events) -> None:
    transfer(Role.RID, rid_dc, dc2)
    assert service.is_rid_master(dc2) and not service.is_rid_master(rid_dc)
    # DC01 is no longer the RID master: asked directly it refuses, locally it must go to DC02.
    assert process_rid_alloc(rid_dc, build_request(dc2)).ul_extended_ret == EXOP_ERR_FSMO_NOT_OWNER
    rid_dc.remote_rid_request = in_process_transport(dc2)
    assert service.refresh_pool(rid_dc).low == 1600
    assert events.ids() == [16647, 16648]
    # DC02 allocates for itself without any transport.
    dc2.remote_rid_request = None
    assert create_user(dc2, "on-the-new-master")[1] == 2100


def test_seize_takes_a_role_without_the_owner(rid_dc, dc2) -> None:
    seize(Role.INFRASTRUCTURE, dc2)
    assert holds(dc2, Role.INFRASTRUCTURE)
    usn = rid_dc.directory.highest_committed_usn
    seize(Role.INFRASTRUCTURE, dc2)                # already held: no write
    assert rid_dc.directory.highest_committed_usn == usn


def test_r_safe_06_roles_unusable_until_inbound_replication(rid_dc, dc2) -> None:
    config = str(rid_dc.directory.store.state("configurationNamingContext"))
    schema = str(rid_dc.directory.store.state("schemaNamingContext"))
    assert roles_verified(rid_dc)
    assert sorted(mark_roles_unverified(rid_dc)) == sorted([rid_dc.domain_dn, config, schema])
    assert not roles_verified(rid_dc)
    for role in Role:
        with pytest.raises(FsmoError) as info:
            require_role_usable(rid_dc, role)
        assert info.value.win32 == 8610            # ERROR_DS_ROLE_NOT_VERIFIED
    with pytest.raises(FsmoError):
        transfer(Role.PDC, rid_dc, dc2)            # the owner cannot hand over an unverified role
    mark_roles_verified(rid_dc, nc=schema)         # the schema NC replicated in
    require_role_usable(rid_dc, Role.SCHEMA)
    with pytest.raises(FsmoError):
        require_role_usable(rid_dc, Role.NAMING)
    mark_roles_verified(rid_dc, nc=config.upper())
    require_role_usable(rid_dc, Role.NAMING)
    assert unverified_ncs(rid_dc) == [rid_dc.domain_dn]
    mark_roles_verified(rid_dc)
    for role in Role:
        require_role_usable(rid_dc, role)
    with pytest.raises(FsmoError) as info:
        require_role_usable(dc2, Role.PDC)
    assert info.value.win32 == 8210


def test_transfer_between_two_dits_applies_the_role_object_on_the_requester(rid_dc, tmp_path, virtual_clock) -> None:
    """Two DCs with their own DIT: the owner's originating write reaches the requester as a replicated write."""
    me = add_dc_objects(rid_dc, "DC02")
    dc02 = copy_dc(rid_dc, tmp_path, virtual_clock, "DC02")
    d2 = dc02.directory
    d2.set_identity(dsa_guid=me.dsa_guid, invocation_id="5ca1ab1e-0000-4000-8000-000000000002")
    for key, value in {"dcName": "DC02", "dsServiceName": me.ntds_settings_dn, "ridSetDn": me.rid_set_dn}.items():
        d2.store.set_state(key, value)
    assert not holds(dc02, Role.INFRASTRUCTURE) and holds(rid_dc, Role.INFRASTRUCTURE)
    usn2 = d2.highest_committed_usn
    transfer(Role.INFRASTRUCTURE, rid_dc, dc02)
    assert holds(dc02, Role.INFRASTRUCTURE)
    assert role_owner(rid_dc, Role.INFRASTRUCTURE) == me.ntds_settings_dn
    src = rid_dc.directory.find(role_object_dn(rid_dc, Role.INFRASTRUCTURE))
    dst = d2.find(role_object_dn(dc02, Role.INFRASTRUCTURE))
    assert dst.meta["fSMORoleOwner"].stamp() == src.meta["fSMORoleOwner"].stamp()
    assert dst.meta["fSMORoleOwner"].invocation_id == rid_dc.directory.invocation_id   # not DC02's own
    assert d2.highest_committed_usn == usn2 + 1 == dst.meta["fSMORoleOwner"].local_usn
