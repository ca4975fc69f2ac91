"""Every row of the boot decision table, with real VMs in a lab (virtualized-dc.md §2.5, R-BOOT-01..07).

G = VM-Generation ID differs from msDS-GenerationId, F = DCCloneConfig.xml found, N = no GenID
device, R = VDCisCloning set.  Each test makes its case happen the way it happens to an
administrator (boot the source again, import a copy, move to a hypervisor without GenID...).
"""

from __future__ import annotations

import re
from pathlib import Path

from clone_helpers import event, ids, import_clone, start

from dcemu.cloning import workflow
from dcemu.cloning.config import FILE_NAME
from dcemu.guest.boot import decide
from dcemu.guest.system import NTDS_PARAMETERS, Registry, SystemState
from dcemu.lab.lab import Lab

STAMPED = re.compile(r"^DCCloneConfig\.(\d{8})-(\d{6})\.xml$")


def _ntds(disk: Path) -> Path:
    return disk / "Windows" / "NTDS"


def _stamped(disk: Path) -> list[str]:
    return sorted(p.name for p in _ntds(disk).iterdir() if STAMPED.match(p.name))


def test_decision_table_covers_every_combination() -> None:
    """The table is total and each row is what the spec says (N, G, F, R -> case)."""
    assert decide(False, False, True, False) == "R-BOOT-01"
    assert decide(False, False, False, False) == "R-BOOT-02"
    assert decide(False, True, True, False) == decide(False, True, True, True) == "R-BOOT-03"
    assert decide(False, True, False, False) == decide(False, True, False, True) == "R-BOOT-04"
    assert decide(True, False, True, False) == decide(True, True, True, True) == "R-BOOT-05"
    assert decide(True, False, False, True) == "R-BOOT-06"
    assert decide(False, False, False, True) == "R-BOOT-07"


def test_r_boot_01_source_booted_again_renames_its_file_and_does_not_clone(exported_lab: Lab) -> None:
    lab = exported_lab
    disk = workflow.vm_disk(lab, "DC02")
    assert (_ntds(disk) / FILE_NAME).is_file()          # the prepared source still carries the file
    guest = start(lab, "DC02")
    assert guest.boot_case == "R-BOOT-01" and guest.mode == "normal"
    assert not (_ntds(disk) / FILE_NAME).exists()
    renamed = _stamped(disk)
    rename_event = event(guest, 2176)
    assert renamed == [rename_event.data["new"]]
    when = rename_event.when()
    assert renamed[0] == f"DCCloneConfig.{when:%Y%m%d-%H%M%S}.xml"
    seq = ids(guest)
    assert seq.index(2178) < seq.index(2176) and 2160 not in seq and 29218 not in seq
    assert guest.dc.name == "DC02"
    assert guest.registry.get(NTDS_PARAMETERS, "VDCisCloning") is None
    assert guest.registry.get(NTDS_PARAMETERS, "IsClone") is None


def test_r_boot_02_normal_reboot(two_dc_lab: Lab) -> None:
    lab = two_dc_lab
    before = lab.dc("DC01").directory.invocation_id
    lab.host("HV01").restart_vm("DC01")
    guest = workflow.running_guest(lab, "DC01")
    assert guest.boot_case == "R-BOOT-02"
    assert ids(guest)[-2:] == [2171, 2174]
    assert guest.dc.directory.invocation_id == before


def test_r_boot_03_a_copy_with_the_file_clones_itself(exported_lab: Lab) -> None:
    lab = exported_lab
    import_clone(lab, "CLONE1")
    guest = start(lab, "CLONE1")
    log = ids(guest)
    first = log.index(2160)
    assert 2170 in log[:first]                      # G: the import gave the VM a new GenID (G13)
    assert log.index(29219) > first                 # cloned ...
    assert log[-2:] == [2171, 2174]                 # ... and rebooted into a normal boot (R-BOOT-02)
    assert guest.boot_case == "R-BOOT-02" and guest.dc.name == "DC02-CL0001"


def _copy_without_file(lab: Lab, name: str) -> Path:
    disk = import_clone(lab, name)
    (_ntds(disk) / FILE_NAME).unlink()
    return disk


def test_r_boot_04_copy_without_file_is_a_duplicate_dc_after_the_safe_restore(exported_lab: Lab) -> None:
    """No file: the safeguards run and the copy keeps the source's identity (KB 2742970)."""
    lab = exported_lab
    _copy_without_file(lab, "COPY")
    guest = start(lab, "COPY")                      # DC02 (10.0.0.2) is off: no duplicate IP seen
    assert guest.boot_case == "R-BOOT-04" and guest.mode == "normal"
    log = ids(guest)
    assert {2161, 2170, 2204, 1109, 2205}.issubset(log) and 2228 not in log and 2160 not in log
    assert guest.dc.name == "DC02"                  # the same DC name, computer and DSA
    dc01 = lab.dc("DC01").directory
    source_dsa = dc01.find(guest.dc.identity.ntds_settings_dn)
    assert source_dsa is not None and source_dsa.guid == guest.dc.directory.dsa_guid


def test_r_boot_04_copy_with_the_ip_of_a_running_dc_goes_to_dsrm_2228(exported_lab: Lab) -> None:
    lab = exported_lab
    _copy_without_file(lab, "COPY")
    (_ntds(workflow.vm_disk(lab, "DC02")) / FILE_NAME).unlink()
    workflow.vm_host(lab, "DC02").start_vm("DC02")   # the source runs again, at 10.0.0.2
    guest = start(lab, "COPY")
    assert guest.mode == "dsrm"
    record = event(guest, 2228)
    assert record.data == {"ip": "10.0.0.2", "other": "DC02"}
    assert SystemState.load(workflow.vm_disk(lab, "COPY")).dsrm_boot
    assert lab.dc("DC02").name == "DC02"             # the source keeps serving, on the network
    assert lab.repl.replica(lab.dc("DC02")) is not None


def test_r_boot_05_file_on_a_hypervisor_without_genid_goes_to_dsrm_2175(exported_lab: Lab) -> None:
    lab = exported_lab
    lab.add_host("LEGACY", os_version="legacy")
    disk = import_clone(lab, "ONLEGACY", host="LEGACY")
    guest = start(lab, "ONLEGACY")
    assert guest.mode == "dsrm"
    log = ids(guest)
    assert 2169 in log and 2175 in log and 2160 not in log
    assert not (_ntds(disk) / FILE_NAME).exists() and len(_stamped(disk)) == 1   # renamed, not cloned


def test_r_boot_06_no_genid_no_file_boots_normally(exported_lab: Lab) -> None:
    lab = exported_lab
    lab.add_host("LEGACY", os_version="legacy")
    disk = import_clone(lab, "ONLEGACY", host="LEGACY")
    (_ntds(disk) / FILE_NAME).unlink()
    guest = start(lab, "ONLEGACY")
    assert guest.boot_case == "R-BOOT-06" and guest.mode == "normal"
    log = ids(guest)
    assert 2169 in log and 2204 not in log and 1109 not in log     # no safeguards at all
    assert guest.dc.name == "DC02"


def test_r_boot_07_failed_clone_disk_back_in_the_source_vm_goes_to_dsrm_2203(exported_lab: Lab) -> None:
    """A failed clone's disk (VDCisCloning = 1) put back into the source VM, file removed: ¬G, ¬F, R."""
    lab = exported_lab
    hv = lab.host("HV01")
    clone_disk = import_clone(lab, "CLONE1")
    hv.stop_vm("DC01")                                # no PDC: the clone fails (29253) into DSRM
    failed = start(lab, "CLONE1")
    assert failed.mode == "dsrm"
    assert Registry.load(clone_disk).get(NTDS_PARAMETERS, "VDCisCloning") == 1
    hv.stop_vm("CLONE1")
    (_ntds(clone_disk) / FILE_NAME).unlink()
    system = SystemState.load(clone_disk)
    system.dsrm_boot = False                          # the admin cleared the DSRM flag
    system.save()
    hv.copy_vhd(clone_disk, workflow.vm_disk(lab, "DC02"))   # G14: DC02 keeps its GenID
    guest = start(lab, "DC02")
    assert guest.mode == "dsrm"
    assert 2203 in ids(guest)
    assert SystemState.load(workflow.vm_disk(lab, "DC02")).dsrm_boot
