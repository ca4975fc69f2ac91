"""Every way a clone's first boot fails, each ending in DSRM with its event (R-CLSTEP-16), and the retry.

A failure logs the step's own event, then 2162 and 29218; the DSRM boot flag stays set, so the
VM reboots into Directory Services Restore Mode; DCCloneConfig.xml is not renamed and
VDCisCloning stays 1, so that fixing the cause, clearing the flag and rebooting retries without
repeating the safeguards (R-CLSTEP-01).
"""

from __future__ import annotations

import pytest
from clone_helpers import attempt_ids, config_xml, event, import_clone, install, start

from dcemu.cloning import pdc as pdc_module
from dcemu.cloning import workflow
from dcemu.cloning.clone_boot import DSROLESVC_KEY
from dcemu.cloning.config import FILE_NAME
from dcemu.dsa import ops
from dcemu.fsmo import mark_roles_unverified
from dcemu.guest.system import NTDS_PARAMETERS, Registry, SystemState
from dcemu.lab.lab import Lab

DOMAIN = "DC=corp,DC=example,DC=com"


def assert_failed_into_dsrm(lab: Lab, vm: str, event_id: int | None, code: int | None = None):  # noqa: ANN201
    """R-CLSTEP-16: the step's event, 2162, 29218, DSRM; the file kept; VDCisCloning = 1."""
    guest = workflow.running_guest(lab, vm)
    assert guest.mode == "dsrm", f"{vm} is {guest.mode}"
    seq = attempt_ids(guest)
    assert seq[-2:] == [2162, 29218], seq
    if event_id is not None:
        assert seq[-3] == event_id, seq
    if code is not None:
        assert event(guest, 29218).data["error"] == str(code)
    disk = workflow.vm_disk(lab, vm)
    assert (disk / "Windows" / "NTDS" / FILE_NAME).exists()                   # not renamed
    assert SystemState.load(disk).dsrm_boot
    assert Registry.load(disk).get(NTDS_PARAMETERS, "VDCisCloning") == 1
    status = workflow.clone_status(lab, vm)
    assert status.phase == "failed" and not status.running_as_dc
    if event_id is not None:
        assert status.failure_events[0]["event_id"] == event_id
    return guest


# --- R-CLSTEP-04: the file ------------------------------------------------------------------------

def test_29249_missing_namespace_kb2742844(exported_lab: Lab) -> None:
    import_clone(exported_lab, "C1", config_xml="<?xml version='1.0'?><DCCloneConfig><ComputerName>X</ComputerName>"
                                                 "</DCCloneConfig>")
    start(exported_lab, "C1")
    guest = assert_failed_into_dsrm(exported_lab, "C1", 29249)
    assert event(guest, 29249).data["hresult"] == "0x80004005"


def test_29249_hostile_dtd_is_refused_before_expansion(exported_lab: Lab) -> None:
    bomb = ('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            '<d3c:DCCloneConfig xmlns:d3c="uri:microsoft.com:schemas:DCCloneConfig"><ComputerName>&b;</ComputerName>'
            '</d3c:DCCloneConfig>')
    import_clone(exported_lab, "C1", config_xml=bomb)
    start(exported_lab, "C1")
    guest = assert_failed_into_dsrm(exported_lab, "C1", 29249)
    assert "DOCTYPE" in event(guest, 29249).data["reason"] or "DTD" in event(guest, 29249).data["reason"]


# --- R-CLSTEP-06: allow lists and MSAs ----------------------------------------------------------

def test_29250_a_service_no_allow_list_names(exported_lab: Lab) -> None:
    disk = import_clone(exported_lab, "C1")
    install(disk, "AcmeBackupAgent")
    install(disk, "Acme Backup Console", "Program")
    start(exported_lab, "C1")
    guest = assert_failed_into_dsrm(exported_lab, "C1", 29250)
    data = event(guest, 29250).data
    assert data["items"] == "AcmeBackupAgent (Service), Acme Backup Console (Program)" and data["custom"] == "(none)"


def test_custom_allow_list_lets_the_clone_through(exported_lab: Lab) -> None:
    """R-ALLOW-03/04: the same service, allowed by a CustomDCCloneAllowList.xml in the DSA working directory."""
    disk = import_clone(exported_lab, "C1")
    install(disk, "AcmeBackupAgent")
    (disk / "Windows" / "NTDS" / "CustomDCCloneAllowList.xml").write_text(
        '<?xml version="1.0" encoding="utf-8"?><dc:CustomDCCloneAllowList '
        'xmlns:dc="uri:microsoft.com:schemas:CustomDCCloneAllowList"><Allow><Name>AcmeBackupAgent</Name>'
        '<Type>Service</Type></Allow></dc:CustomDCCloneAllowList>', encoding="utf-8")
    guest = start(exported_lab, "C1")
    assert guest.mode == "normal" and guest.dc.name == "DC02-CL0001"


def test_29267_custom_allow_list_with_a_syntax_error(exported_lab: Lab) -> None:
    disk = import_clone(exported_lab, "C1")
    (disk / "Windows" / "NTDS" / "CustomDCCloneAllowList.xml").write_text("<dc:CustomDCCloneAllowList", "utf-8")
    start(exported_lab, "C1")
    guest = assert_failed_into_dsrm(exported_lab, "C1", 29267)
    assert event(guest, 29267).data["file"].endswith("CustomDCCloneAllowList.xml")


def test_2224_standalone_managed_service_account(exported_lab: Lab) -> None:
    disk = import_clone(exported_lab, "C1")
    install(disk, "svc-sql$", standalone_msa=True)
    start(exported_lab, "C1")
    guest = assert_failed_into_dsrm(exported_lab, "C1", 2224)
    assert event(guest, 2224).data == {"count": "1", "items": "svc-sql$"}


# --- R-CLSTEP-07: IP settings -------------------------------------------------------------------

def test_29251_static_block_without_a_subnet_mask(exported_lab: Lab) -> None:
    xml = config_xml("<IPSettings><IPv4Settings><StaticSettings><Address>10.0.0.60</Address></StaticSettings>"
                     "</IPv4Settings></IPSettings>")
    import_clone(exported_lab, "C1", config_xml=xml)
    start(exported_lab, "C1")
    assert_failed_into_dsrm(exported_lab, "C1", 29251)


def test_29251_static_address_of_a_running_dc(exported_lab: Lab) -> None:
    xml = config_xml("<IPSettings><IPv4Settings><StaticSettings><Address>10.0.0.1</Address><SubnetMask>255.0.0.0"
                     "</SubnetMask><DNSResolver>10.0.0.1</DNSResolver></StaticSettings></IPv4Settings></IPSettings>")
    import_clone(exported_lab, "C1", config_xml=xml)
    start(exported_lab, "C1")
    guest = assert_failed_into_dsrm(exported_lab, "C1", 29251)
    assert "DC01" in event(guest, 29251).data["error"]


# --- R-CLSTEP-08: the PDC emulator --------------------------------------------------------------

def test_29253_pdc_emulator_off(exported_lab: Lab) -> None:
    import_clone(exported_lab, "C1")
    exported_lab.host("HV01").stop_vm("DC01")
    start(exported_lab, "C1")
    assert_failed_into_dsrm(exported_lab, "C1", 29253, 1355)


def test_29253_pdc_emulator_unreachable(exported_lab: Lab) -> None:
    import_clone(exported_lab, "C1")
    exported_lab.repl.transport.isolate(exported_lab.dc("DC01").directory.dsa_guid)
    start(exported_lab, "C1")
    guest = assert_failed_into_dsrm(exported_lab, "C1", 29253)
    assert "cannot be reached" in event(guest, 29253).data["error"]


def test_29254_machine_password_changed_after_the_copy(exported_lab: Lab) -> None:
    """The clone authenticates with the source's password hash from its DIT; a reset since breaks the bind."""
    import_clone(exported_lab, "C1")
    ops.modify(exported_lab.dc("DC01").directory, f"CN=DC02,OU=Domain Controllers,{DOMAIN}",
               [ops.Change("replace", "unicodePwd", ('"An0ther-Machine-Passw0rd"'.encode("utf-16-le"),))], system=True)
    start(exported_lab, "C1")
    guest = assert_failed_into_dsrm(exported_lab, "C1", 29254, 1326)
    assert event(guest, 29254).data["pdc"] == "DC01"


def test_29255_source_not_authorized_8453(exported_lab: Lab) -> None:
    """R-CLONE-03: DC02 removed from Cloneable Domain Controllers on the PDC."""
    d1 = exported_lab.dc("DC01").directory
    ops.modify(d1, f"CN=Cloneable Domain Controllers,CN=Users,{DOMAIN}",
               [ops.Change("delete", "member", (f"CN=DC02,OU=Domain Controllers,{DOMAIN}",))])
    import_clone(exported_lab, "C1")
    start(exported_lab, "C1")
    assert_failed_into_dsrm(exported_lab, "C1", 29255, 8453)
    pdc_log = workflow.running_guest(exported_lab, "DC01").eventlog
    assert pdc_log.query(event_id=2183)[-1].data["error"] == "8453"
    assert d1.find(f"CN=DC02-CL0001,OU=Domain Controllers,{DOMAIN}") is None      # nothing created


def test_29255_and_2199_name_already_in_use_8437(exported_lab: Lab) -> None:
    import_clone(exported_lab, "C1", config_xml=config_xml("<ComputerName>DC01</ComputerName>"))
    start(exported_lab, "C1")
    assert_failed_into_dsrm(exported_lab, "C1", 29255, 8437)
    record = workflow.running_guest(exported_lab, "DC01").eventlog.query(event_id=2199)[-1]
    assert record.data["clone"] == "DC01" and record.data["object"].startswith("CN=DC01,")


def test_29255_site_that_does_not_exist(exported_lab: Lab) -> None:
    import_clone(exported_lab, "C1", config_xml=config_xml("<SiteName>Atlantis</SiteName>"))
    start(exported_lab, "C1")
    assert_failed_into_dsrm(exported_lab, "C1", 29255, 1919)


def test_29255_pdc_role_not_yet_verified_8610(exported_lab: Lab) -> None:
    """R-CLSTEP-08 / R-SAFE-06: a PDC that must replicate in before it uses its role again."""
    mark_roles_unverified(exported_lab.dc("DC01"))
    import_clone(exported_lab, "C1")
    start(exported_lab, "C1")
    assert_failed_into_dsrm(exported_lab, "C1", 29255, 8610)


def test_2184_all_9999_generated_names_taken(exported_lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """R-NAME-02, as the PDC sees it; the fault is injected at the name lookup (9999 accounts would take long)."""
    monkeypatch.setattr(pdc_module, "name_in_use", lambda d, name: f"CN={name},OU=Domain Controllers,{DOMAIN}"
                        if name.startswith("DC02-CL") else None)
    import_clone(exported_lab, "C1")
    start(exported_lab, "C1")
    assert_failed_into_dsrm(exported_lab, "C1", 29255, 8437)
    record = workflow.running_guest(exported_lab, "DC01").eventlog.query(event_id=2184)[-1]
    assert record.data == {"source": "DC02", "prefix": "DC02-CL"}


def test_generate_clone_name_limit_is_9999() -> None:
    taken = [f"DC02-CL{n:04d}" for n in range(1, 10000)]
    assert pdc_module.generate_clone_name("DC02", taken) is None
    assert pdc_module.generate_clone_name("DC02", taken[:-1]) == "DC02-CL9999"
    assert pdc_module.generate_clone_name("SourceComputer", ["sourceco-cl0001"]) == "SourceCo-CL0002"


# --- R-CLSTEP-10: DS Role Server ---------------------------------------------------------------

def test_2164_ds_role_server_disabled(exported_lab: Lab) -> None:
    disk = import_clone(exported_lab, "C1")
    reg = Registry.load(disk)
    reg.set(DSROLESVC_KEY, "Start", 4)
    start(exported_lab, "C1")
    assert_failed_into_dsrm(exported_lab, "C1", 2164, 1058)


# --- the retry (R-CLSTEP-01, R-CLSTEP-16) --------------------------------------------------------

def test_retry_after_fixing_the_cause_skips_the_safeguards(exported_lab: Lab) -> None:
    lab = exported_lab
    import_clone(lab, "C1")
    lab.host("HV01").stop_vm("DC01")
    start(lab, "C1")
    first = assert_failed_into_dsrm(lab, "C1", 29253)
    assert first.eventlog.ids().count(1109) >= 1
    lab.host("HV01").start_vm("DC01")                      # the fix: the PDC is back
    status = workflow.retry_clone(lab, "C1")
    assert status.phase == "cloned" and status.computer_name == "DC02-CL0001"
    guest = workflow.running_guest(lab, "C1")
    retry = attempt_ids(guest)
    assert retry.count(1109) == 1                          # only the promotion's new invocationId ...
    assert 2205 not in retry                               # ... the RID pool is not invalidated again
    system_log = guest.eventlog.query(log="System")
    last_2160 = guest.eventlog.query(event_id=2160)[-1].record_id
    assert not [r for r in system_log if r.event_id == 16654 and r.record_id > last_2160]
    assert guest.dc.name == "DC02-CL0001" and guest.mode == "normal"


def test_a_failed_clone_never_joined_the_network_as_its_source(exported_lab: Lab) -> None:
    """While it fails, the copy must not take over the source's DSA GUID on the network."""
    lab = exported_lab
    workflow.vm_host(lab, "DC02").start_vm("DC02")
    source_guid = lab.dc("DC02").directory.dsa_guid
    import_clone(lab, "C1", config_xml=config_xml("<ComputerName>DC01</ComputerName>"))
    start(lab, "C1")
    assert_failed_into_dsrm(lab, "C1", 29255)
    assert lab.repl.replica(source_guid).dc is lab.dc("DC02")
    assert lab.repl.replicate(lab.dc("DC01"), lab.dc("DC02"))[0].ok
