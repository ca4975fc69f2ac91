"""The cloning workflow's own rules (virtualized-dc.md R-CLONE-07/08, hyperv.md R-HV-80..83) through the Python API."""

from __future__ import annotations

import pytest
from clone_helpers import export_dir

from dcemu.cloning import workflow
from dcemu.cloning.newconfig import CloneConfigParameters
from dcemu.lab.lab import Lab


def test_r_hv_80_export_refuses_a_running_or_powered_off_source(two_dc_lab: Lab) -> None:
    lab = two_dc_lab
    with pytest.raises(workflow.CloneWorkflowError, match="Running"):
        workflow.export_source(lab, "DC02", lab.dir / "exports")
    lab.host("HV01").stop_vm("DC02", turn_off=True)                     # a power cut
    with pytest.raises(workflow.CloneWorkflowError, match="TurnOff"):
        workflow.export_source(lab, "DC02", lab.dir / "exports")
    lab.host("HV01").start_vm("DC02")
    workflow.shut_down_source(lab, "DC02")
    assert workflow.export_source(lab, "DC02", lab.dir / "exports").vm_name == "DC02"


def test_r_hv_83_imported_checkpoints_are_removed(exported_lab: Lab) -> None:
    lab = exported_lab
    hv = lab.host("HV01")
    hv.checkpoint_vm("DC02", snapshot_name="before-cloning")
    exported = workflow.export_source(lab, "DC02", lab.dir / "exports2")
    [info] = workflow.import_clones(lab, exported.path, ["C1"])
    assert hv.get_vm_snapshot("DC02") and info.checkpoint_count == 0 and not hv.get_vm_snapshot("C1")


def test_r_clone_07_static_mac_addresses_are_not_duplicated(two_dc_lab: Lab) -> None:
    lab = two_dc_lab
    hv = lab.host("HV01")
    workflow.shut_down_source(lab, "DC02")
    hv.set_vm_network_adapter("DC02", static_mac_address="00155D0000AA")
    exported = workflow.export_source(lab, "DC02", lab.dir / "exports")
    made = workflow.import_clones(lab, exported.path, ["C1", "C2"])
    macs = [info.network_adapters[0].mac_address for info in made]
    assert "00155D0000AA" not in macs and len(set(macs)) == 2
    assert not any(info.network_adapters[0].mac_is_static for info in made)


def test_r_hv_81a_disk_copy_refuses_checkpoints_then_clones(exported_lab: Lab) -> None:
    lab = exported_lab
    hv = lab.host("HV01")
    hv.checkpoint_vm("DC02", snapshot_name="old")
    with pytest.raises(workflow.CloneWorkflowError, match="checkpoint"):
        workflow.copy_disk(lab, "DC02", ["C1"])
    hv.remove_vm_snapshot("DC02", "old")
    [info] = workflow.copy_disk(lab, "DC02", ["C1"])
    assert info.generation_id != hv.get_vm("DC02")[0].generation_id         # a new VM: a new GenID (G1)
    [status] = workflow.start_clones(lab, ["C1"])
    assert status.phase == "cloned" and status.computer_name == "DC02-CL0001"


def test_per_clone_files_written_offline_into_each_copy(exported_lab: Lab) -> None:
    lab = exported_lab
    configs = {"A": CloneConfigParameters.of(clone_computer_name="BRANCH1"),
               "B": CloneConfigParameters.of(clone_computer_name="BRANCH2", site_name="Default-First-Site-Name")}
    workflow.import_clones(lab, export_dir(lab), ["A", "B"], configs=configs)
    statuses = workflow.start_clones(lab, ["A", "B"])
    assert [(s.phase, s.computer_name) for s in statuses] == [("cloned", "BRANCH1"), ("cloned", "BRANCH2")]


def test_vm_names_must_be_new(exported_lab: Lab) -> None:
    with pytest.raises(workflow.CloneWorkflowError):
        workflow.import_clones(exported_lab, export_dir(exported_lab), ["DC01"])
    with pytest.raises(workflow.CloneWorkflowError):
        workflow.import_clones(exported_lab, export_dir(exported_lab), ["X", "x"])


def test_r_clone_08_cloning_the_pdc_needs_it_back_online(two_dc_lab: Lab) -> None:
    """The source is the PDC emulator: its clones fail (29253) until it runs again; then a retry works."""
    lab = two_dc_lab
    [status] = workflow.clone_dc(lab, "DC01", ["P1"], export_path=lab.dir / "exports", restart_source=False)
    assert status.phase == "failed" and status.failure_events[0]["event_id"] == 29253
    lab.host("HV01").start_vm("DC01")
    status = workflow.retry_clone(lab, "P1")
    assert status.phase == "cloned" and status.computer_name == "DC01-CL0001"
    assert lab.dc("P1").name == "DC01-CL0001" and lab.dc("DC01").name == "DC01"
    assert lab.dc("P1").directory.dsa_guid != lab.dc("DC01").directory.dsa_guid


def test_clone_dc_runs_the_whole_procedure(two_dc_lab: Lab) -> None:
    lab = two_dc_lab
    statuses = workflow.clone_dc(lab, "DC02", ["N1", "N2"], export_path=lab.dir / "exports")
    assert [(s.vm_name, s.phase, s.running_as_dc) for s in statuses] == [("N1", "cloned", True),
                                                                         ("N2", "cloned", True)]
    assert workflow.running_guest(lab, "DC02").boot_case == "R-BOOT-01"    # the source renamed its file
    assert lab.state.dcs["N1"].host == "HV01"
    assert workflow.converge(lab).failing == ()


def test_a_clone_of_a_clone(exported_lab: Lab) -> None:
    """The copied disk carries its parent's cloning history; the status reads only the VM's own events."""
    lab = exported_lab
    workflow.import_clones(lab, export_dir(lab), ["C1"])
    workflow.start_clones(lab, ["C1"])
    prepared = workflow.prepare_source(lab, "C1")          # a clone is not cloneable until added to the group
    assert prepared.ready
    workflow.shut_down_source(lab, "C1")
    exported = workflow.export_source(lab, "C1", lab.dir / "exports-c1")
    workflow.import_clones(lab, exported.path, ["C1X"])
    assert workflow.clone_status(lab, "C1X").phase == "not-started"
    [status] = workflow.start_clones(lab, ["C1X"])
    assert status.phase == "cloned" and status.computer_name == "DC02-CL0-CL0001"   # R-NAME-01: 8 characters


def test_status_of_a_copy_that_went_to_dsrm_names_its_event(exported_lab: Lab) -> None:
    lab = exported_lab
    lab.add_host("LEGACY", os_version="legacy")
    workflow.import_clones(lab, export_dir(lab), ["OLD"], host="LEGACY")
    [status] = workflow.start_clones(lab, ["OLD"])
    assert status.phase == "dsrm" and [f["event_id"] for f in status.failure_events] == [2175]


def test_status_of_a_copy_that_booted_without_its_file(exported_lab: Lab) -> None:
    """R-BOOT-04: the copy ran the safeguards and kept its source's identity."""
    lab = exported_lab
    workflow.import_clones(lab, export_dir(lab), ["COPY"])
    (workflow.vm_disk(lab, "COPY") / "Windows" / "NTDS" / "DCCloneConfig.xml").unlink()
    [status] = workflow.start_clones(lab, ["COPY"])
    assert (status.phase, status.computer_name, status.running_as_dc) == ("source-identity", "DC02", True)
