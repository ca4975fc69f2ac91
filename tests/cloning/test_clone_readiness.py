"""The cloning cmdlets on a running lab DC: New-ADDCCloneConfigFile's online checks and file placement
(R-CFG-01..06, R-XML-02) and Get-ADDCCloningExcludedApplicationList (R-ALLOW-02..05)."""

from __future__ import annotations

import pytest

from dcemu.cloning import workflow
from dcemu.cloning.allowlist import CUSTOM_FILE_NAME, GenerateAllowListError, parse_allow_list
from dcemu.cloning.config import FILE_NAME, parse_clone_config
from dcemu.cloning.newconfig import CloneConfigParameters
from dcemu.cloning.readiness import NotADomainControllerError
from dcemu.dsa import ops
from dcemu.guest.system import NTDS_PARAMETERS, InstalledItem
from dcemu.lab.lab import Lab

DOMAIN = "DC=corp,DC=example,DC=com"


def _keys(result) -> list[str]:  # noqa: ANN001
    return [m.key.removeprefix("NewADDCCloneConfigFile") for m in result.messages]


def _ntds(lab: Lab, vm: str = "DC02"):  # noqa: ANN202
    return workflow.vm_disk(lab, vm) / "Windows" / "NTDS"


def _install(lab: Lab, name: str, kind: str = "Service") -> None:
    guest = workflow.running_guest(lab, "DC02")
    guest.system.installed.append(InstalledItem(name, kind))
    guest.system.save()


def test_r_cfg_01_not_a_member_of_cloneable_domain_controllers(two_dc_lab: Lab) -> None:
    result = workflow.new_clone_config(two_dc_lab, "DC02")
    assert _keys(result) == ["LocalModeMessage", "LocatingWin8PDCMessage", "FoundWin8PDCMessage",
                             "CheckCloningPrivilegeMessage", "FoundLocalDCMessage", "GetCloneableGroupMessage",
                             "NoCloningPrivilegeMessage", "TestWhiteListMessage", "WhiteListCompleteMessage",
                             "NoGenerateFileMessage"]
    assert result.written is None and not (_ntds(two_dc_lab) / FILE_NAME).exists()


def test_r_cfg_01_membership_is_read_from_the_pdc(two_dc_lab: Lab) -> None:
    lab = two_dc_lab
    d2 = lab.dc("DC02").directory
    ops.modify(d2, f"CN=Cloneable Domain Controllers,CN=Users,{DOMAIN}",
               [ops.Change("add", "member", (f"CN=DC02,OU=Domain Controllers,{DOMAIN}",))])
    assert "NoCloningPrivilegeMessage" in _keys(workflow.new_clone_config(lab, "DC02"))   # not replicated yet
    lab.repl.replicate(lab.dc("DC01"), lab.dc("DC02"))
    result = workflow.new_clone_config(lab, "DC02")
    assert "HasCloningPrivilegeMessage" in _keys(result) and result.written == _ntds(lab) / FILE_NAME
    assert parse_clone_config(result.written).computer_name is None       # R-CFG-06: all automatic


def test_r_cfg_01_no_pdc_stops_the_checks(two_dc_lab: Lab) -> None:
    workflow.add_to_cloneable_group(two_dc_lab, "DC02")
    two_dc_lab.host("HV01").stop_vm("DC01")
    result = workflow.new_clone_config(two_dc_lab, "DC02")
    assert _keys(result) == ["LocalModeMessage", "LocatingWin8PDCMessage", "NoWin8PDCMessage", "NoGenerateFileMessage"]


def test_r_cfg_01_excluded_applications_and_an_existing_file(two_dc_lab: Lab) -> None:
    lab = two_dc_lab
    workflow.add_to_cloneable_group(lab, "DC02")
    _install(lab, "AcmeAgent")
    assert "WhiteListNotCompleteMessage" in _keys(workflow.new_clone_config(lab, "DC02"))
    workflow.running_guest(lab, "DC02").system.installed.pop()
    assert workflow.new_clone_config(lab, "DC02").written is not None
    again = workflow.new_clone_config(lab, "DC02")
    assert _keys(again)[-3:] == ["ExistingMessage", "FoundMessage", "NoGenerateFileMessage"]


def test_r_cfg_05_default_path_is_the_dsa_working_directory(two_dc_lab: Lab) -> None:
    lab = two_dc_lab
    workflow.add_to_cloneable_group(lab, "DC02")
    guest = workflow.running_guest(lab, "DC02")
    guest.registry.set(NTDS_PARAMETERS, "DSA Working Directory", r"D:\NTDSData")
    target = workflow.windows_path_on(lab, "DC02", r"D:\NTDSData")
    target.mkdir(parents=True)
    result = workflow.new_clone_config(lab, "DC02")
    assert result.written == target / FILE_NAME


def test_r_cfg_05_online_file_outside_the_searched_folders_is_deleted(two_dc_lab: Lab) -> None:
    lab = two_dc_lab
    workflow.add_to_cloneable_group(lab, "DC02")
    workflow.windows_path_on(lab, "DC02", r"C:\Temp").mkdir()
    result = workflow.new_clone_config(lab, "DC02", path=r"C:\Temp")
    assert result.written is None and _keys(result)[-1] == "AtWrongLocationMessage"
    assert not (workflow.windows_path_on(lab, "DC02", r"C:\Temp") / FILE_NAME).exists()


def test_r_cfg_02_offline_skips_checks_and_overwrites(two_dc_lab: Lab) -> None:
    lab = two_dc_lab                                      # DC02 is not even authorized
    params = CloneConfigParameters.of(clone_computer_name="CLONE7", static=True, ipv4_address="10.0.0.70",
                                      ipv4_subnet_mask="255.255.255.0", ipv4_dns_resolver=["10.0.0.1", "10.0.0.2"])
    first = workflow.new_clone_config(lab, "DC02", params, offline=True, path=r"C:\Windows\NTDS")
    assert _keys(first)[0] == "OfflineModeMessage" and first.written == _ntds(lab) / FILE_NAME
    second = workflow.new_clone_config(lab, "DC02", CloneConfigParameters(), offline=True, path=r"C:\Windows\NTDS")
    assert second.written == first.written and parse_clone_config(second.written).computer_name is None
    workflow.new_clone_config(lab, "DC02", params, offline=True, path=r"C:\Windows\NTDS")
    text = first.written.read_bytes().decode("utf-8")
    assert text.startswith('<?xml version="1.0"?>\r\n<d3c:DCCloneConfig xmlns:d3c="uri:microsoft.com:schemas:')
    assert "<Address>10.0.0.70</Address>" in text and text.count("<DNSResolver>") == 2
    config = parse_clone_config(first.written)
    assert config.computer_name == "CLONE7" and config.ipv4.static and config.ipv4.address == "10.0.0.70"


def test_r_cfg_03_parameter_validation_in_both_modes(two_dc_lab: Lab) -> None:
    lab = two_dc_lab
    bad = CloneConfigParameters.of(ipv4_address="10.0.0.70", ipv4_dns_resolver=["10.0.0.1"] * 5)
    for offline in (False, True):
        result = workflow.new_clone_config(lab, "DC02", bad, offline=offline, path=r"C:\Windows\NTDS")
        assert {"InvalidIpv4StaticMessage", "MoreDnsMessage"} <= set(_keys(result)) and result.written is None


# --- Get-ADDCCloningExcludedApplicationList ----------------------------------------------------

def test_r_allow_05_excluded_services_and_programs_of_the_guest(two_dc_lab: Lab) -> None:
    lab = two_dc_lab
    assert workflow.excluded_applications(lab, "DC02").excluded == ()
    _install(lab, "AcmeAgent")
    _install(lab, "Acme Console", "Program")
    report = workflow.excluded_applications(lab, "DC02")
    assert [(e.type, e.name) for e in report.excluded] == [("Service", "AcmeAgent"), ("Program", "Acme Console")]


def test_r_allow_05_generate_xml_path_force(two_dc_lab: Lab) -> None:
    lab = two_dc_lab
    _install(lab, "AcmeAgent")
    result = workflow.generate_allow_list(lab, "DC02")
    assert result.written == _ntds(lab) / CUSTOM_FILE_NAME               # the first searched folder that exists
    assert [e.name for e in parse_allow_list(result.written).entries] == ["AcmeAgent"]
    report = workflow.excluded_applications(lab, "DC02")                  # only the delta now: nothing
    assert report.excluded == () and str(result.written) in report.messages[0].text
    with pytest.raises(GenerateAllowListError) as exists:
        workflow.generate_allow_list(lab, "DC02")
    assert exists.value.message.key.endswith("FileExists")
    assert workflow.generate_allow_list(lab, "DC02", force=True).written == result.written
    with pytest.raises(GenerateAllowListError) as invalid:
        workflow.generate_allow_list(lab, "DC02", path=r"C:\Temp")
    assert invalid.value.message.key.endswith("InvalidPath")


def test_r_allow_05_not_a_dc(two_dc_lab: Lab) -> None:
    two_dc_lab.host("HV01").stop_vm("DC02")
    with pytest.raises(NotADomainControllerError):
        workflow.excluded_applications(two_dc_lab, "DC02")
    assert _keys(workflow.new_clone_config(two_dc_lab, "DC02"))[-1] == "LocalModeNoLocalDCMessage"
