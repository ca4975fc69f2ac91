"""New-ADDCCloneConfigFile (dcemu.cloning.newconfig): parameters, the XML it writes, the online run.

Spec: ../shared/reference/virtualized-dc.md section 2.2 (R-CFG-01..07) and 2.3 (R-XML-02/04).
"""


from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import CRLF, NS, V6
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcemu.cloning.config import (
    FILE_NAME,
    CloneConfig,
    CloneConfigWriteError,
    IPv4Settings,
    IPv6Settings,
    clone_config_search_locations,
    find_clone_config,
    parse_clone_config,
    render_clone_config,
    write_clone_config,
)
from dcemu.cloning.newconfig import (
    CloneConfigParameterError,
    CloneConfigParameters,
    CloneReadiness,
    apply_clone_config_file_plan,
    clone_computer_name_problem,
    new_clone_config,
    online_prerequisite_checks,
    plan_new_clone_config_file,
)
from dcemu.cloning.xmlsafe import parse_xml_bytes

# --- R-CFG: New-ADDCCloneConfigFile --------------------------------------------------------------


def lines(*rows: str) -> str:
    return CRLF.join(rows)


def test_r_cfg_06_no_arguments_gives_an_effectively_empty_file(tmp_path: Path) -> None:
    xml = new_clone_config()
    assert xml == lines('<?xml version="1.0"?>', f'<d3c:DCCloneConfig {NS} />')
    config = parse_clone_config(write_clone_config(tmp_path, xml, offline=True))
    assert config == CloneConfig() and not config.blank  # more than 4 bytes: parsed, all automatic


def test_r_cfg_04_psnew_example_static_ipv4_exact_xml() -> None:
    xml = new_clone_config(static=True, ipv4_address="10.0.0.2", ipv4_dns_resolver=["10.0.0.1"],
                           ipv4_subnet_mask="255.255.255.0", clone_computer_name="VirtualDC2",
                           ipv4_default_gateway="10.0.0.3", preferred_wins_server="10.0.0.1", site_name="REDMOND")
    assert xml == lines(
        '<?xml version="1.0"?>',
        f'<d3c:DCCloneConfig {NS}>',
        "  <ComputerName>VirtualDC2</ComputerName>",
        "  <SiteName>REDMOND</SiteName>",
        "  <IPSettings>",
        "    <IPv4Settings>",
        "      <StaticSettings>",
        "        <Address>10.0.0.2</Address>",
        "        <SubnetMask>255.255.255.0</SubnetMask>",
        "        <DefaultGateway>10.0.0.3</DefaultGateway>",
        "        <DNSResolver>10.0.0.1</DNSResolver>",
        "        <PreferredWINSServer>10.0.0.1</PreferredWINSServer>",
        "      </StaticSettings>",
        "    </IPv4Settings>",
        "  </IPSettings>",
        "</d3c:DCCloneConfig>")


def test_r_cfg_04_deploy_example_static_ipv4_and_static_ipv6_exact_xml() -> None:
    xml = new_clone_config(ipv4_address="10.0.0.2", ipv4_dns_resolver=["10.0.0.1"], ipv4_subnet_mask="255.255.0.0",
                           static=True, ipv6_dns_resolver=[V6], clone_computer_name="Clone2",
                           preferred_wins_server="10.0.0.1", alternate_wins_server="10.0.0.3")
    assert xml == lines(
        '<?xml version="1.0"?>', f'<d3c:DCCloneConfig {NS}>', "  <ComputerName>Clone2</ComputerName>",
        "  <IPSettings>", "    <IPv4Settings>", "      <StaticSettings>", "        <Address>10.0.0.2</Address>",
        "        <SubnetMask>255.255.0.0</SubnetMask>", "        <DNSResolver>10.0.0.1</DNSResolver>",
        "        <PreferredWINSServer>10.0.0.1</PreferredWINSServer>",
        "        <AlternateWINSServer>10.0.0.3</AlternateWINSServer>", "      </StaticSettings>",
        "    </IPv4Settings>", "    <IPv6Settings>", "      <StaticSettings>",
        f"        <DNSResolver>{V6}</DNSResolver>", "      </StaticSettings>", "    </IPv6Settings>",
        "  </IPSettings>", "</d3c:DCCloneConfig>")


def test_r_cfg_04_with_static_ipv6_resolvers_are_static_even_where_deploy_says_dynamic() -> None:
    # DEPLOY labels this example "static IPv4 and dynamic IPv6", but the cmdlet's derivation
    # (DEC-NEW, R-CFG-04) makes IPv6 static whenever -Static and -IPv6DNSResolver are both given.
    config = CloneConfigParameters.of(ipv4_address="10.0.0.10", ipv4_subnet_mask="255.255.0.0",
                                      ipv4_default_gateway="10.0.0.1", ipv4_dns_resolver=["10.0.0.1", "10.0.0.2"],
                                      static=True, ipv6_dns_resolver=[V6]).to_clone_config()
    assert config.ipv4 == IPv4Settings(True, "10.0.0.10", "255.255.0.0", "10.0.0.1", ("10.0.0.1", "10.0.0.2"))
    assert config.ipv6 == IPv6Settings(True, (V6,))


def test_r_cfg_04_deploy_example_dynamic_ipv4_with_wins_and_static_ipv6_exact_xml() -> None:
    xml = new_clone_config(static=True, ipv6_dns_resolver=[V6], clone_computer_name="Clone1",
                           preferred_wins_server="10.0.0.1", alternate_wins_server="10.0.0.3", site_name="REDMOND")
    assert xml == lines(
        '<?xml version="1.0"?>', f'<d3c:DCCloneConfig {NS}>', "  <ComputerName>Clone1</ComputerName>",
        "  <SiteName>REDMOND</SiteName>", "  <IPSettings>", "    <IPv4Settings>", "      <DynamicSettings>",
        "        <PreferredWINSServer>10.0.0.1</PreferredWINSServer>",
        "        <AlternateWINSServer>10.0.0.3</AlternateWINSServer>", "      </DynamicSettings>",
        "    </IPv4Settings>", "    <IPv6Settings>", "      <StaticSettings>",
        f"        <DNSResolver>{V6}</DNSResolver>", "      </StaticSettings>", "    </IPv6Settings>",
        "  </IPSettings>", "</d3c:DCCloneConfig>")


@pytest.mark.parametrize("kwargs, v4_block, v6_block", [
    ({}, None, None),
    ({"ipv4_dns_resolver": ["10.0.0.1"]}, "DynamicSettings", None),
    ({"preferred_wins_server": "10.0.0.5"}, "DynamicSettings", None),
    ({"static": True, "ipv4_dns_resolver": ["10.0.0.1"]}, "DynamicSettings", None),  # no address: not static
    ({"static": True, "ipv4_address": "10.0.0.2", "ipv4_subnet_mask": "255.0.0.0", "ipv4_dns_resolver": ["1.1.1.1"]},
     "StaticSettings", None),
    ({"ipv6_dns_resolver": [V6]}, None, "DynamicSettings"),
    ({"static": True, "ipv6_dns_resolver": [V6]}, None, "StaticSettings"),
    ({"static": True}, None, None),
])
def test_r_cfg_04_static_dynamic_derivation(kwargs: dict[str, object], v4_block: str | None,
                                            v6_block: str | None) -> None:
    xml = new_clone_config(**kwargs)  # type: ignore[arg-type]
    root = parse_xml_bytes(xml.encode(), source="mem").root
    v4 = root.find("IPSettings/IPv4Settings")
    v6 = root.find("IPSettings/IPv6Settings")
    assert (v4[0].tag if v4 is not None else None) == v4_block
    assert (v6[0].tag if v6 is not None else None) == v6_block
    assert (root.find("IPSettings") is None) == (v4_block is None and v6_block is None)


@pytest.mark.parametrize("kwargs", [
    {"ipv4_address": "10.0.0.2"},  # address alone
    {"ipv4_subnet_mask": "255.0.0.0", "static": True, "ipv4_dns_resolver": ["10.0.0.1"]},  # no address
    {"ipv4_default_gateway": "10.0.0.1"},  # a gateway drags in the whole static set
    {"ipv4_address": "10.0.0.2", "ipv4_subnet_mask": "255.0.0.0", "ipv4_dns_resolver": ["10.0.0.1"]},  # no -Static
    {"ipv4_address": "10.0.0.2", "ipv4_subnet_mask": "255.0.0.0", "static": True},  # no resolver
])
def test_r_cfg_03_incomplete_static_ipv4_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(CloneConfigParameterError) as info:
        new_clone_config(**kwargs)  # type: ignore[arg-type]
    assert [m.key for m in info.value.messages] == ["NewADDCCloneConfigFileInvalidIpv4StaticMessage"]


def test_r_cfg_03_more_than_four_resolvers_are_refused_with_both_warnings_in_order() -> None:
    five = [f"10.0.0.{i}" for i in range(5)]
    with pytest.raises(CloneConfigParameterError) as info:
        new_clone_config(ipv4_address="10.0.0.9", ipv6_dns_resolver=five)
    assert [m.key for m in info.value.messages] == ["NewADDCCloneConfigFileInvalidIpv4StaticMessage",
                                                    "NewADDCCloneConfigFileMoreDnsMessage"]
    assert all(m.level == "warning" for m in info.value.messages)
    assert new_clone_config(ipv4_dns_resolver=five[:4]).count("<DNSResolver>") == 4


@pytest.mark.parametrize("name, ok", [
    ("CLONEDC-0123456", True), ("Dc2-CL0001", True), (" Clone3 ", True),
    ("CLONEDC-01234567", False), ("dc2.corp.contoso.com", False), ("dc_2", False), ("clone dc", False),
    ("12345", False), ("DC$", False),
])
def test_r_cfg_07_clone_computer_name_is_a_netbios_name(name: str, ok: bool) -> None:
    assert (clone_computer_name_problem(name.strip()) is None) == ok
    if ok:
        assert f"<ComputerName>{name.strip()}</ComputerName>" in new_clone_config(clone_computer_name=name)
    else:
        with pytest.raises(CloneConfigParameterError) as info:
            new_clone_config(clone_computer_name=name)
        assert info.value.messages[0].key == "NewADDCCloneConfigFileInvalidCloneComputerNameMessage"


def test_r_cfg_03_empty_arguments_fail_parameter_binding() -> None:
    with pytest.raises(CloneConfigParameterError) as info:
        new_clone_config(site_name="", ipv4_dns_resolver=[])
    assert [m.key for m in info.value.messages] == ["ParameterArgumentValidationError"] * 2


def test_r_cfg_04_strings_are_trimmed_and_blank_resolvers_dropped() -> None:
    xml = new_clone_config(static=True, ipv4_address=" 10.0.0.2 ", ipv4_subnet_mask="255.0.0.0",
                           ipv4_dns_resolver=["  ", " 10.0.0.1"], site_name=" REDMOND ")
    assert "<Address>10.0.0.2</Address>" in xml and "<SiteName>REDMOND</SiteName>" in xml
    assert xml.count("<DNSResolver>") == 1 and "<DNSResolver>10.0.0.1</DNSResolver>" in xml


def test_r_xml_04_written_as_utf8_without_bom_crlf_and_escaped(tmp_path: Path) -> None:
    xml = new_clone_config(site_name="Zürich & Genève")
    path = write_clone_config(tmp_path, xml, offline=True)
    raw = path.read_bytes()
    assert raw.startswith(b'<?xml version="1.0"?>\r\n') and not raw.startswith(b"\xef\xbb\xbf")
    assert "Zürich &amp; Genève".encode() in raw and not raw.endswith(b"\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert parse_clone_config(path).site_name == "Zürich & Genève"


PARAMS = st.builds(
    CloneConfigParameters.of,
    clone_computer_name=st.none() | st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,14}", fullmatch=True),
    static=st.booleans(),
    ipv4_address=st.none() | st.just("10.1.2.3"),
    ipv4_subnet_mask=st.none() | st.just("255.255.0.0"),
    ipv4_default_gateway=st.none() | st.just("10.1.0.1"),
    ipv4_dns_resolver=st.none() | st.lists(st.sampled_from(["10.0.0.1", "10.0.0.2", " ", "10.0.0.3"]),
                                           min_size=1, max_size=4),
    ipv6_dns_resolver=st.none() | st.lists(st.sampled_from(["fd00::1", "fd00::2"]), min_size=1, max_size=4),
    preferred_wins_server=st.none() | st.just("10.0.0.7"),
    alternate_wins_server=st.none() | st.just("10.0.0.8"),
    site_name=st.none() | st.sampled_from(["REDMOND", "Default-First-Site-Name", "Zürich"]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=PARAMS)
def test_r_xml_02_what_the_cmdlet_writes_validates_and_parses_back(tmp_path: Path,
                                                                   params: CloneConfigParameters) -> None:
    if params.binding_errors() or params.problems():
        with pytest.raises(CloneConfigParameterError):
            new_clone_config(**params.__dict__)
        return
    xml = new_clone_config(**params.__dict__)
    path = write_clone_config(tmp_path, xml, offline=True)
    parsed = parse_clone_config(path)
    assert parsed == params.to_clone_config()
    assert render_clone_config(parsed) == xml


# --- R-CFG-02: writing ------------------------------------------------------------------------------


def test_r_cfg_02_offline_overwrites_online_refuses(tmp_path: Path) -> None:
    first = write_clone_config(tmp_path, new_clone_config(clone_computer_name="First"), offline=True)
    assert first == tmp_path / FILE_NAME
    write_clone_config(tmp_path, new_clone_config(clone_computer_name="Second"), offline=True)
    assert parse_clone_config(first).computer_name == "Second"
    with pytest.raises(CloneConfigWriteError):
        write_clone_config(tmp_path, new_clone_config(clone_computer_name="Third"), offline=False)
    assert parse_clone_config(first).computer_name == "Second"
    with pytest.raises(CloneConfigWriteError):
        write_clone_config(tmp_path / "missing", new_clone_config(), offline=True)


# --- R-CFG-01 / R-CFG-05: the online run ------------------------------------------------------------


GROUP = "S-1-5-21-1004336348-1177238915-682003330-522"


def ready(tmp_path: Path, **overrides: object) -> CloneReadiness:
    ntds = tmp_path / "Windows" / "NTDS"
    ntds.mkdir(parents=True, exist_ok=True)
    base: dict[str, object] = dict(
        local_dc_hostname="DC2.corp.contoso.com", pdc_hostname="DC1.corp.contoso.com",
        pdc_directory_service_version=3, local_dc_group_sids=("S-1-5-21-1-516", GROUP), cloneable_group_sid=GROUP,
        dsa_working_dir=ntds, search_locations=tuple(clone_config_search_locations(ntds, tmp_path / "Windows")))
    base.update(overrides)
    return CloneReadiness(**base)  # type: ignore[arg-type]


def keys(messages: object) -> list[str]:
    return [m.key.removeprefix("NewADDCCloneConfigFile") for m in messages]  # type: ignore[attr-defined]


def test_r_cfg_01_all_checks_pass_in_the_cmdlets_order(tmp_path: Path) -> None:
    outcome = online_prerequisite_checks(ready(tmp_path))
    assert outcome.passed
    assert keys(outcome.messages) == [
        "LocalModeMessage", "LocatingWin8PDCMessage", "FoundWin8PDCMessage", "CheckCloningPrivilegeMessage",
        "FoundLocalDCMessage", "GetCloneableGroupMessage", "HasCloningPrivilegeMessage", "TestWhiteListMessage",
        "WhiteListCompleteMessage", "NotExistingMessage"]
    assert "DC1.corp.contoso.com" in outcome.messages[2].text and outcome.messages[2].level == "pass"


def test_r_cfg_01_no_local_dc_stops_everything(tmp_path: Path) -> None:
    plan = plan_new_clone_config_file(CloneConfigParameters(), readiness=ready(tmp_path, local_dc_hostname=None))
    assert keys(plan.messages) == ["LocalModeMessage", "LocalModeNoLocalDCMessage"]
    assert plan.output_file is None and apply_clone_config_file_plan(plan) is None


@pytest.mark.parametrize("pdc, version", [(None, 3), ("DC1.corp.contoso.com", 2)])
def test_r_cfg_01_no_2012_pdc_stops_the_other_checks(tmp_path: Path, pdc: str | None, version: int) -> None:
    outcome = online_prerequisite_checks(ready(tmp_path, pdc_hostname=pdc, pdc_directory_service_version=version))
    assert not outcome.passed
    assert keys(outcome.messages) == ["LocalModeMessage", "LocatingWin8PDCMessage", "NoWin8PDCMessage"]


@pytest.mark.parametrize("overrides, warning", [
    ({"local_dc_group_sids": ("S-1-5-21-1-516",)}, "NoCloningPrivilegeMessage"),
    ({"local_dc_group_sids": None}, "NoLocalDCMembershipMessage"),
    ({"cloneable_group_sid": None}, "NoCloneableGroupMessage"),
])
def test_r_cfg_01_not_authorized_still_tests_the_allow_list_but_not_existing_files(
        tmp_path: Path, overrides: dict[str, object], warning: str) -> None:
    outcome = online_prerequisite_checks(ready(tmp_path, **overrides,
                                               existing_config_files=(tmp_path / FILE_NAME,)))
    assert not outcome.passed
    got = keys(outcome.messages)
    assert warning in got and got[-2:] == ["TestWhiteListMessage", "WhiteListCompleteMessage"]
    assert "ExistingMessage" not in got and "NotExistingMessage" not in got


def test_r_cfg_01_excluded_applications_fail_the_check(tmp_path: Path) -> None:
    for overrides in ({"excluded_applications": ("VMTools",)}, {"excluded_list_failed": True}):
        outcome = online_prerequisite_checks(ready(tmp_path, **overrides))
        assert not outcome.passed and keys(outcome.messages)[-1] == "WhiteListNotCompleteMessage"


def test_r_cfg_01_existing_config_file_fails_and_nothing_is_written(tmp_path: Path) -> None:
    r = ready(tmp_path)
    existing = write_clone_config(r.dsa_working_dir, new_clone_config(clone_computer_name="Old"), offline=True)
    plan = plan_new_clone_config_file(CloneConfigParameters(), readiness=ready(
        tmp_path, existing_config_files=(find_clone_config(r.search_locations),)))
    assert keys(plan.messages)[-3:] == ["ExistingMessage", "FoundMessage", "NoGenerateFileMessage"]
    assert str(existing) in plan.messages[-3].text
    assert apply_clone_config_file_plan(plan) is None
    assert parse_clone_config(existing).computer_name == "Old"


def test_r_cfg_05_online_default_path_is_the_dsa_working_directory(tmp_path: Path) -> None:
    r = ready(tmp_path)
    plan = plan_new_clone_config_file(CloneConfigParameters.of(clone_computer_name="CloneDC1"), readiness=r)
    assert plan.output_file == r.dsa_working_dir / FILE_NAME and not plan.delete_after_write
    written = apply_clone_config_file_plan(plan)
    assert written == r.dsa_working_dir / FILE_NAME
    assert find_clone_config(r.search_locations) == written
    assert parse_clone_config(written).computer_name == "CloneDC1"
    assert keys(plan.messages)[-6:] == ["GenerateFileMessage", "GenerationMessage", "GetDitLocationMessage",
                                        "FullNameMessage", "GeneratingContentMessage", "GeneratedMessage"]


def test_r_cfg_05_online_file_in_a_wrong_location_is_deleted(tmp_path: Path) -> None:
    elsewhere = tmp_path / "Users" / "admin"
    elsewhere.mkdir(parents=True)
    plan = plan_new_clone_config_file(CloneConfigParameters(), path=elsewhere, readiness=ready(tmp_path))
    assert plan.delete_after_write
    assert keys(plan.messages)[-1] == "AtWrongLocationMessage" and plan.messages[-1].level == "warning"
    assert apply_clone_config_file_plan(plan) is None
    assert not (elsewhere / FILE_NAME).exists()


def test_r_cfg_05_online_path_that_is_searched_is_kept_even_in_other_case(tmp_path: Path) -> None:
    r = ready(tmp_path)
    plan = plan_new_clone_config_file(CloneConfigParameters(), path=tmp_path / "WINDOWS" / "ntds", readiness=r)
    assert not plan.delete_after_write


def test_r_cfg_02_offline_needs_path_skips_checks_and_overwrites(tmp_path: Path) -> None:
    with pytest.raises(CloneConfigParameterError):
        plan_new_clone_config_file(CloneConfigParameters(), offline=True)
    folder = tmp_path / "mounted" / "Windows" / "NTDS"
    folder.mkdir(parents=True)
    write_clone_config(folder, new_clone_config(clone_computer_name="Old"), offline=True)
    plan = plan_new_clone_config_file(CloneConfigParameters.of(clone_computer_name="New"), offline=True, path=folder)
    assert keys(plan.messages)[:2] == ["OfflineModeMessage", "GenerateFileMessage"]
    assert parse_clone_config(apply_clone_config_file_plan(plan)).computer_name == "New"  # type: ignore[arg-type]


def test_r_cfg_05_unknown_dsa_working_directory_writes_nothing(tmp_path: Path) -> None:
    plan = plan_new_clone_config_file(CloneConfigParameters(), readiness=ready(tmp_path, dsa_working_dir=None))
    assert keys(plan.messages)[-2:] == ["GetDitLocationMessage", "NoDitLocationMessage"]
    assert plan.output_file is None and apply_clone_config_file_plan(plan) is None


def test_r_cfg_03_parameter_warnings_also_stop_the_online_run(tmp_path: Path) -> None:
    plan = plan_new_clone_config_file(CloneConfigParameters.of(ipv4_address="10.0.0.2"), readiness=ready(tmp_path))
    assert keys(plan.messages)[-2:] == ["InvalidIpv4StaticMessage", "NoGenerateFileMessage"]
    assert plan.output_file is None
