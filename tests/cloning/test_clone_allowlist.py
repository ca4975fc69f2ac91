"""Clone allow lists (R-ALLOW-01..05), the standalone-MSA blocker (R-CLONE-06) and -GenerateXml.

Spec: ../shared/reference/virtualized-dc.md section 2.4 (+ R-CLSTEP-06).  Files are real files under
``tmp_path``; the shipped default list is read from ``allowlists/``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dcemu.cloning.allowlist import (
    CUSTOM_FILE_NAME,
    EVENT_ALLOW_LIST_CHECK_FAILED,
    AllowList,
    AllowListError,
    AppEntry,
    GenerateAllowListError,
    clone_blockers,
    custom_allow_list_search_locations,
    excluded_applications,
    find_custom_allow_list,
    generate_custom_allow_list,
    generate_custom_allow_list_xml,
    load_default_allow_list,
    parse_allow_list,
    plan_generate_custom_allow_list,
    report_excluded_applications,
)
from dcemu.cloning.xmlsafe import XmlProblem
from dcemu.resources import data_path

NS = 'xmlns:dc="uri:microsoft.com:schemas:CustomDCCloneAllowList"'


def custom_xml(*items: tuple[str, str]) -> str:
    body = "".join(f"<Allow><Name>{n}</Name><Type>{t}</Type></Allow>" for n, t in items)
    return f'<?xml version="1.0" encoding="utf-8"?>\n<dc:CustomDCCloneAllowList {NS}>{body}</dc:CustomDCCloneAllowList>'


def put(folder: Path, text: str, name: str = CUSTOM_FILE_NAME) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def default() -> AllowList:
    return load_default_allow_list()


# --- R-ALLOW-01: the default list ---------------------------------------------------------------------


def test_r_allow_01_default_list_covers_the_dc_services_and_names_sysprep_providers(default: AllowList) -> None:
    assert default.kind == "default"
    for service in ("NTDS", "Netlogon", "DFSR", "NtFrs", "Kdc", "DNS", "DsRoleSvc", "W32Time", "Dnscache"):
        assert default.allows(AppEntry("Service", service))
    assert default.programs == ()
    assert default.sysprep_modules and all(m.module_name and m.method_name for m in default.sysprep_modules)
    assert len({e.key for e in default.entries}) == len(default.entries)  # no duplicates


def test_r_allow_01_every_default_entry_documents_its_origin() -> None:
    text = data_path("allowlists", "DefaultDCCloneAllowList.xml").read_text(encoding="utf-8")
    allow_lines = [line for line in text.splitlines() if line.lstrip().startswith("<Allow><Name>")]
    assert len(allow_lines) == len(load_default_allow_list().entries)
    for line in allow_lines:
        assert re.search(r"</Allow><!-- (SPEC R-[A-Z]+-\d+[/\d]* |GK |SVC2016 |SVC2016-GUI )", line), line


def test_r_allow_04_sample_custom_list_is_exactly_what_generate_writes() -> None:
    sample = data_path("allowlists", "CustomDCCloneAllowList.sample.xml")
    parsed = parse_allow_list(sample)
    assert parsed.kind == "custom" and parsed.sysprep_modules == ()
    assert sample.read_bytes() == generate_custom_allow_list_xml(parsed.entries).encode("utf-8")


# --- R-ALLOW-02: syntax errors are event 29267 ----------------------------------------------------------


@pytest.mark.parametrize("text, problem", [
    (custom_xml(("VMTools", "Service")).replace("</dc:Custom", "</dc:Costum"), XmlProblem.MALFORMED),
    (custom_xml(("VMTools", "Driver")), XmlProblem.SCHEMA_INVALID),  # Type is Service or Program
    (custom_xml(("  ", "Service")), XmlProblem.SCHEMA_INVALID),  # blank name
    (custom_xml().replace("<dc:CustomDCCloneAllowList", "<dc:CustomDCCloneAllowList><Allow><Type>Service"
                          "</Type></Allow").replace("></dc:Custom", "</dc:Custom"), XmlProblem.MALFORMED),
    ('<CustomDCCloneAllowList><Allow><Name>A</Name><Type>Service</Type></Allow></CustomDCCloneAllowList>',
     XmlProblem.SCHEMA_INVALID),  # no namespace
    (f"<dc:DefaultDCCloneAllowList {NS}></dc:DefaultDCCloneAllowList>", XmlProblem.SCHEMA_INVALID),  # no Sysprep
    ('<!DOCTYPE x [<!ENTITY e "VMTools">]>' + custom_xml(("&e;", "Service")).split("?>", 1)[1],
     XmlProblem.DTD_FORBIDDEN),
])
def test_r_allow_02_broken_allow_list_is_29267(tmp_path: Path, text: str, problem: XmlProblem) -> None:
    path = put(tmp_path, text)
    with pytest.raises(AllowListError) as info:
        parse_allow_list(path)
    assert info.value.event_id == EVENT_ALLOW_LIST_CHECK_FAILED == 29267
    assert info.value.file == str(path) and info.value.problem is problem


def test_r_allow_02_missing_name_element_is_29267(tmp_path: Path) -> None:
    path = put(tmp_path, f"<dc:CustomDCCloneAllowList {NS}><Allow><Type>Service</Type></Allow>"
                         "</dc:CustomDCCloneAllowList>")
    with pytest.raises(AllowListError) as info:
        parse_allow_list(path)
    assert info.value.problem is XmlProblem.SCHEMA_INVALID and "Type" in info.value.reason


def test_r_allow_02_xxe_in_custom_list_never_reads_the_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-4d1c")
    path = put(tmp_path, f'<!DOCTYPE d [<!ENTITY x SYSTEM "{secret.as_uri()}">]>'
                         f"<dc:CustomDCCloneAllowList {NS}><Allow><Name>&x;</Name><Type>Service</Type></Allow>"
                         "</dc:CustomDCCloneAllowList>")
    with pytest.raises(AllowListError) as info:
        parse_allow_list(path)
    assert "SECRET-4d1c" not in str(info.value)


def test_r_allow_02_unreadable_list_is_29267_with_win32_code(tmp_path: Path) -> None:
    with pytest.raises(AllowListError) as info:
        parse_allow_list(tmp_path / CUSTOM_FILE_NAME)
    assert info.value.error_code == 2 and info.value.problem is XmlProblem.UNREADABLE


# --- R-ALLOW-03: which custom list is used --------------------------------------------------------------


def test_r_allow_03_search_order_first_found_wins(tmp_path: Path) -> None:
    reg, dsa, windir = tmp_path / "AllowFolder", tmp_path / "DSA", tmp_path / "Windows"
    e, f = tmp_path / "E", tmp_path / "F"
    assert custom_allow_list_search_locations(reg, dsa, windir, {"F": f, "E": e}) == [reg, dsa, windir / "NTDS", e, f]
    assert custom_allow_list_search_locations(None, dsa, windir) == [dsa, windir / "NTDS"]
    assert find_custom_allow_list(reg, dsa, windir, {"F": f, "E": e}) is None
    found = []
    for folder, name in ((f, "FromF"), (e, "FromE"), (windir / "NTDS", "FromWindir"), (dsa, "FromDSA"),
                         (reg, "FromRegistry")):
        put(folder, custom_xml((name, "Service")))
        used = find_custom_allow_list(reg, dsa, windir, {"F": f, "E": e})
        found.append(parse_allow_list(used).services[0])  # type: ignore[arg-type]
    assert found == ["FromF", "FromE", "FromWindir", "FromDSA", "FromRegistry"]


def test_r_allow_03_file_name_matches_case_insensitively(tmp_path: Path) -> None:
    put(tmp_path / "DSA", custom_xml(("X", "Program")), name="customdccloneallowlist.XML")
    found = find_custom_allow_list(None, tmp_path / "DSA", tmp_path / "Windows")
    assert found is not None and found.name == "customdccloneallowlist.XML"


# --- R-ALLOW-02 / R-ALLOW-05: what is excluded -----------------------------------------------------------


def test_r_allow_02_in_box_services_are_not_excluded_but_others_are(default: AllowList) -> None:
    installed = ["NTDS", "ntds", "netlogon", "VMTools", "ContosoAgent", "VMTools"]
    got = excluded_applications(installed, ["VMware Tools", "NTDS"], default)
    assert got == [AppEntry("Service", "ContosoAgent"), AppEntry("Service", "VMTools"),
                   AppEntry("Program", "NTDS"), AppEntry("Program", "VMware Tools")]  # a program is not a service
    assert excluded_applications(["NTDS", "Kdc"], [], default) == []


def test_r_allow_05_custom_list_leaves_only_the_delta(tmp_path: Path, default: AllowList) -> None:
    custom = parse_allow_list(put(tmp_path, custom_xml(("vmtools", "Service"), ("VMware Tools", "Program"))))
    assert excluded_applications(["VMTools", "Agent"], ["VMware Tools"], default, custom) == [
        AppEntry("Service", "Agent")]
    report = report_excluded_applications(["VMTools"], ["VMware Tools"], default, custom)
    assert report.excluded == ()
    assert [m.key for m in report.messages] == ["ADDCCloningExcludedApplicationListCustomerAllowListFileNameMessage",
                                                "ADDCCloningExcludedApplicationListNoAppsFound"]
    assert custom.source in report.messages[0].text  # type: ignore[operator]
    plain = report_excluded_applications(["VMTools"], [], default)
    assert plain.excluded == (AppEntry("Service", "VMTools"),) and plain.messages == ()


def test_r_clstep_06_excluded_apps_block_cloning_with_29250(tmp_path: Path, default: AllowList) -> None:
    custom = parse_allow_list(put(tmp_path, custom_xml(("Agent", "Service"))))
    assert clone_blockers(installed_services=["NTDS", "Agent"], installed_programs=[], default=default,
                          custom=custom) == ()
    (blocker,) = clone_blockers(installed_services=["NTDS", "Agent", "Other"], installed_programs=["Tool 1.0"],
                                default=default, custom=custom)
    assert blocker.event_id == 29250 and blocker.items == ("Other (Service)", "Tool 1.0 (Program)")
    assert str(tmp_path / CUSTOM_FILE_NAME) in blocker.message


def test_r_clone_06_standalone_msas_block_cloning_with_2224(default: AllowList) -> None:
    blockers = clone_blockers(installed_services=["Other"], installed_programs=[], default=default,
                              standalone_msas=["svc-sql$", "svc-web$"])
    assert [b.event_id for b in blockers] == [29250, 2224]
    assert blockers[1].items == ("svc-sql$", "svc-web$") and "2 standalone" in blockers[1].message
    only_msa = clone_blockers(installed_services=["NTDS"], installed_programs=[], default=default,
                              standalone_msas=["svc-sql$"])
    assert [b.event_id for b in only_msa] == [2224]


# --- R-ALLOW-04 / R-ALLOW-05: -GenerateXml ------------------------------------------------------------------


def test_r_allow_04_generated_xml_is_exact_and_parses_back(tmp_path: Path) -> None:
    items = [AppEntry("Service", "VMTools"), AppEntry("Program", "Tools & Co <x64>")]
    xml = generate_custom_allow_list_xml(items)
    assert xml == "\r\n".join([
        '<?xml version="1.0" encoding="utf-8"?>', f"<dc:CustomDCCloneAllowList {NS}>",
        "  <Allow>", "    <Name>VMTools</Name>", "    <Type>Service</Type>", "  </Allow>",
        "  <Allow>", "    <Name>Tools &amp; Co &lt;x64&gt;</Name>", "    <Type>Program</Type>", "  </Allow>",
        "</dc:CustomDCCloneAllowList>"])
    path = tmp_path / CUSTOM_FILE_NAME
    path.write_bytes(xml.encode("utf-8"))
    assert parse_allow_list(path).entries == tuple(items)
    empty = tmp_path / "empty" / CUSTOM_FILE_NAME
    empty.parent.mkdir()
    empty.write_bytes(generate_custom_allow_list_xml([]).encode())
    assert parse_allow_list(empty).entries == ()


def locations(tmp_path: Path) -> list[Path]:
    return custom_allow_list_search_locations(tmp_path / "AllowFolder", tmp_path / "DSA", tmp_path / "Windows",
                                              {"E": tmp_path / "E"})


def test_r_allow_05_default_output_is_the_highest_priority_existing_folder(tmp_path: Path) -> None:
    locs = locations(tmp_path)
    with pytest.raises(GenerateAllowListError):  # no folder exists at all
        plan_generate_custom_allow_list(locs)
    (tmp_path / "DSA").mkdir()
    assert plan_generate_custom_allow_list(locs) == tmp_path / "DSA" / CUSTOM_FILE_NAME
    (tmp_path / "AllowFolder").mkdir()
    assert plan_generate_custom_allow_list(locs) == tmp_path / "AllowFolder" / CUSTOM_FILE_NAME


def test_r_allow_05_path_must_be_a_searched_location(tmp_path: Path) -> None:
    with pytest.raises(GenerateAllowListError) as info:
        plan_generate_custom_allow_list(locations(tmp_path), path=tmp_path / "Desktop")
    assert info.value.message.key == "ADDCCloningExcludedApplicationListInvalidPath"
    assert plan_generate_custom_allow_list(locations(tmp_path), path=tmp_path / "e") == tmp_path / "e" / CUSTOM_FILE_NAME


def test_r_allow_05_shadowing_and_force_rules(tmp_path: Path) -> None:
    locs = locations(tmp_path)
    existing = put(tmp_path / "DSA", custom_xml(("Old", "Service")))
    with pytest.raises(GenerateAllowListError) as shadowed:  # would be hidden by the DSA-directory file
        plan_generate_custom_allow_list(locs, path=tmp_path / "E", existing_custom=existing)
    assert shadowed.value.message.key == "ADDCCloningExcludedApplicationListFilePriority"
    with pytest.raises(GenerateAllowListError) as exists:
        plan_generate_custom_allow_list(locs, path=tmp_path / "DSA", existing_custom=existing)
    assert exists.value.message.key == "ADDCCloningExcludedApplicationListFileExists"
    assert plan_generate_custom_allow_list(locs, path=tmp_path / "DSA", existing_custom=existing, force=True) == existing
    # A higher-priority location is fine: the new file will shadow the old one.
    assert plan_generate_custom_allow_list(locs, path=tmp_path / "AllowFolder", existing_custom=existing) == (
        tmp_path / "AllowFolder" / CUSTOM_FILE_NAME)
    gone = tmp_path / "DSA" / "gone" / CUSTOM_FILE_NAME
    with pytest.raises(GenerateAllowListError) as path_priority:
        plan_generate_custom_allow_list(locs + [gone.parent], path=tmp_path / "E", existing_custom=tmp_path / "DSA" / "x")
    assert path_priority.value.message.key == "ADDCCloningExcludedApplicationListPathPriority"


def test_r_allow_05_generate_writes_everything_not_in_the_default_list(tmp_path: Path, default: AllowList) -> None:
    locs = locations(tmp_path)
    old = put(tmp_path / "DSA", custom_xml(("VMTools", "Service")))
    result = generate_custom_allow_list(["NTDS", "VMTools", "Agent"], ["Tool"], default, locs,
                                        path=tmp_path / "DSA", existing_custom=old, force=True)
    assert result.written == old
    assert [m.key for m in result.messages] == ["ADDCCloningExcludedApplicationListNewAllowList"]
    # computed against the default list only, so the item the old file allowed is kept
    assert parse_allow_list(old).entries == (AppEntry("Service", "Agent"), AppEntry("Service", "VMTools"),
                                             AppEntry("Program", "Tool"))
    custom = parse_allow_list(find_custom_allow_list(tmp_path / "AllowFolder", tmp_path / "DSA",  # type: ignore[arg-type]
                                                     tmp_path / "Windows"))
    assert excluded_applications(["NTDS", "VMTools", "Agent"], ["Tool"], default, custom) == []


def test_r_allow_05_nothing_excluded_writes_no_file_even_where_one_exists(tmp_path: Path,
                                                                          default: AllowList) -> None:
    locs = locations(tmp_path)
    old = put(tmp_path / "DSA", custom_xml(("Old", "Service")))
    before = old.read_bytes()
    result = generate_custom_allow_list(["NTDS"], [], default, locs, path=tmp_path / "DSA", existing_custom=old)
    assert result.written is None
    assert [m.key for m in result.messages] == ["ADDCCloningExcludedApplicationListNoAppsFound"]
    assert old.read_bytes() == before
    with pytest.raises(GenerateAllowListError):  # but an invalid -Path is refused first
        generate_custom_allow_list(["NTDS"], [], default, locs, path=tmp_path / "Desktop")
