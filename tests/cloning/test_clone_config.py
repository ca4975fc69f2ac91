"""DCCloneConfig.xml: parsing (R-XML), hostile input, New-ADDCCloneConfigFile (R-CFG), search order.

Spec: ../shared/reference/virtualized-dc.md sections 2.2, 2.3, 2.6.  Every test writes real files
to ``tmp_path`` and reads them back through the same code a clone uses.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from config_helpers import NS, config_xml, expect_29249, write
from xmlschema import XMLSchemaImportWarning
from xmlschema.exceptions import XMLResourceBlocked

from dcemu.cloning.config import (
    E_FAIL,
    FILE_NAME,
    CloneConfig,
    IPv4Settings,
    IPv6Settings,
    clone_config_search_locations,
    find_clone_config,
    parse_clone_config,
)
from dcemu.cloning.xmlsafe import XmlLoadError, XmlProblem, load_trusted_schema, load_xml, parse_xml_bytes

# --- R-XML: reading -----------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b" ", b"\r\n", b"    ", b"<a/>"])
def test_r_xml_03_file_of_at_most_4_bytes_is_blank_and_all_automatic(tmp_path: Path, content: bytes) -> None:
    config = parse_clone_config(write(tmp_path, content))
    assert config.blank
    assert config == CloneConfig()
    assert config.uses_dhcp
    assert config.notes == (f"vDC Cloning: Clone config file {tmp_path / FILE_NAME} is considered to be a blank "
                            f"file (containing {len(content)} bytes)",)


def test_r_xml_03_five_bytes_are_parsed_and_fail(tmp_path: Path) -> None:
    error = expect_29249(write(tmp_path, b"hello"))
    assert error.hresult == E_FAIL
    assert error.problem is XmlProblem.MALFORMED


def test_r_xml_02_full_file_parses_every_setting(tmp_path: Path) -> None:
    path = write(tmp_path, config_xml("""  <ComputerName>CloneDC1</ComputerName>
  <SiteName>REDMOND</SiteName>
  <IPSettings>
    <IPv4Settings>
      <StaticSettings>
        <Address>10.0.0.2</Address>
        <SubnetMask>255.255.255.0</SubnetMask>
        <DefaultGateway>10.0.0.3</DefaultGateway>
        <DNSResolver>10.0.0.1</DNSResolver>
        <DNSResolver>10.0.0.4</DNSResolver>
        <PreferredWINSServer>10.0.0.1</PreferredWINSServer>
        <AlternateWINSServer>10.0.0.3</AlternateWINSServer>
      </StaticSettings>
    </IPv4Settings>
    <IPv6Settings>
      <DynamicSettings><DNSResolver>fd00::1</DNSResolver></DynamicSettings>
    </IPv6Settings>
  </IPSettings>"""))
    config = parse_clone_config(path)
    assert config == CloneConfig(
        computer_name="CloneDC1", site_name="REDMOND",
        ipv4=IPv4Settings(True, "10.0.0.2", "255.255.255.0", "10.0.0.3", ("10.0.0.1", "10.0.0.4"),
                          "10.0.0.1", "10.0.0.3"),
        ipv6=IPv6Settings(False, ("fd00::1",)))
    assert not config.blank and config.source == str(path)
    assert not config.uses_dhcp


def test_r_xml_01_missing_namespace_declaration_fails_kb2742844(tmp_path: Path) -> None:
    no_ns = expect_29249(write(tmp_path, "<?xml version=\"1.0\"?>\n<DCCloneConfig>\n"
                                         "  <ComputerName>CloneDC1</ComputerName>\n</DCCloneConfig>\n"))
    assert no_ns.problem is XmlProblem.SCHEMA_INVALID and no_ns.hresult == E_FAIL
    # The sample's prefix without its declaration is not even namespace-well-formed.
    unbound = expect_29249(write(tmp_path, "<d3c:DCCloneConfig>\n  <ComputerName>C</ComputerName>\n"
                                           "</d3c:DCCloneConfig>\n"))
    assert unbound.problem is XmlProblem.MALFORMED and "unbound prefix" in unbound.reason


def test_r_xml_01_wrong_namespace_fails(tmp_path: Path) -> None:
    path = write(tmp_path, '<d3c:DCCloneConfig xmlns:d3c="uri:example:other"><ComputerName>C</ComputerName>'
                           "</d3c:DCCloneConfig>")
    assert expect_29249(path).problem is XmlProblem.SCHEMA_INVALID


@pytest.mark.parametrize("family, block", [("IPv4Settings", "StaticSettings"), ("IPv4Settings", "DynamicSettings"),
                                           ("IPv6Settings", "StaticSettings"), ("IPv6Settings", "DynamicSettings")])
def test_r_xml_03_more_than_four_dns_resolvers_fail(tmp_path: Path, family: str, block: str) -> None:
    resolvers = "\n".join(f"<DNSResolver>10.0.0.{i}</DNSResolver>" for i in range(1, 6))
    path = write(tmp_path, config_xml(f"<IPSettings><{family}><{block}>\n{resolvers}\n</{block}></{family}>"
                                      "</IPSettings>"))
    error = expect_29249(path)
    assert error.problem is XmlProblem.SCHEMA_INVALID
    assert error.line == 8  # the fifth resolver (line 3 opens the block)
    four = resolvers.rsplit("\n", 1)[0]
    ok = write(tmp_path, config_xml(f"<IPSettings><{family}><{block}>{four}</{block}></{family}></IPSettings>"))
    settings_ = parse_clone_config(ok)
    got = settings_.ipv4 if family == "IPv4Settings" else settings_.ipv6
    assert got is not None and len(got.dns_resolvers) == 4


@pytest.mark.parametrize("element", ["ComputerName", "SiteName"])
def test_r_xml_03_two_names_fail(tmp_path: Path, element: str) -> None:
    error = expect_29249(write(tmp_path, config_xml(f"<{element}>A</{element}>\n<{element}>B</{element}>")))
    assert error.line == 4 and element in error.reason


@pytest.mark.parametrize("element", ["Address", "SubnetMask", "DefaultGateway"])
def test_r_xml_03_two_static_values_fail(tmp_path: Path, element: str) -> None:
    body = f"<{element}>1</{element}><{element}>2</{element}>"
    path = write(tmp_path, config_xml(f"<IPSettings><IPv4Settings><StaticSettings>{body}</StaticSettings>"
                                      "</IPv4Settings></IPSettings>"))
    assert expect_29249(path).problem is XmlProblem.SCHEMA_INVALID


def test_r_xml_02_unknown_element_fails(tmp_path: Path) -> None:
    error = expect_29249(write(tmp_path, config_xml("<ComputerName>C</ComputerName>\n<DomainName>corp</DomainName>")))
    assert "DomainName" in error.reason and error.line == 4


def test_r_xml_02_static_and_dynamic_blocks_together_fail(tmp_path: Path) -> None:
    path = write(tmp_path, config_xml("<IPSettings><IPv4Settings><StaticSettings/><DynamicSettings/>"
                                      "</IPv4Settings></IPSettings>"))
    expect_29249(path)


def test_r_xml_02_static_without_mask_parses_but_cannot_be_applied(tmp_path: Path) -> None:
    path = write(tmp_path, config_xml("<IPSettings><IPv4Settings><StaticSettings><Address>10.0.0.9</Address>"
                                      "<DNSResolver>10.0.0.1</DNSResolver></StaticSettings></IPv4Settings>"
                                      "</IPSettings>"))
    config = parse_clone_config(path)  # 0..1 each in R-XML-02: valid XML ...
    assert config.ipv4 is not None and config.ipv4.static and config.ipv4.subnet_mask is None
    assert config.ipv4.incomplete_static  # ... left for the apply step (29251, R-CLSTEP-07)
    complete = IPv4Settings(True, "10.0.0.9", "255.0.0.0")
    assert not complete.incomplete_static and not IPv4Settings(False).incomplete_static


def test_r_xml_03_blank_settings_mean_automatic_and_values_are_trimmed(tmp_path: Path) -> None:
    path = write(tmp_path, config_xml("""<ComputerName></ComputerName>
<SiteName>   </SiteName>
<IPSettings><IPv4Settings><DynamicSettings><DNSResolver/><DNSResolver>  10.0.0.1 </DNSResolver>
</DynamicSettings></IPv4Settings><IPv6Settings/></IPSettings>"""))
    config = parse_clone_config(path)
    assert config == CloneConfig(ipv4=IPv4Settings(False, dns_resolvers=("10.0.0.1",)))
    assert config.uses_dhcp


def test_r_xml_04_bom_and_crlf_files_written_by_other_editors_parse(tmp_path: Path) -> None:
    text = config_xml("<ComputerName>Clone7</ComputerName>").replace("\n", "\r\n")
    config = parse_clone_config(write(tmp_path, b"\xef\xbb\xbf" + text.encode()))
    assert config.computer_name == "Clone7"


def test_r_xml_03_missing_file_is_29249_with_win32_hresult(tmp_path: Path) -> None:
    error = expect_29249(tmp_path / FILE_NAME)
    assert error.hresult == 0x80070002  # HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND)
    assert "29249" not in error.reason and f"0x{error.hresult:08X}" in str(error)


def test_r_xml_03_a_directory_or_fifo_in_place_of_the_file_is_29249(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).mkdir()
    assert expect_29249(tmp_path / FILE_NAME).hresult == 0x80070005  # ERROR_ACCESS_DENIED
    fifo = tmp_path / "pipe.xml"
    os.mkfifo(fifo)
    started = time.perf_counter()
    with pytest.raises(XmlLoadError) as info:  # opened non-blocking, refused by type: no hang
        load_xml(fifo)
    assert info.value.problem is XmlProblem.UNREADABLE and time.perf_counter() - started < 1.0
    assert expect_29249(fifo).hresult == 0x80070005


def test_r_xml_03_malformed_xml_reports_the_line(tmp_path: Path) -> None:
    error = expect_29249(write(tmp_path, config_xml("<ComputerName>C</ComputerName>\n<SiteName>S</SiteNam>")))
    assert error.problem is XmlProblem.MALFORMED and error.line == 4


# --- hostile input: all refused before anything is expanded or opened -------------------------


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<d3c:DCCloneConfig xmlns:d3c="uri:microsoft.com:schemas:DCCloneConfig"><ComputerName>&lol9;</ComputerName>
</d3c:DCCloneConfig>
"""


def test_hostile_billion_laughs_is_refused_fast(tmp_path: Path) -> None:
    started = time.perf_counter()
    error = expect_29249(write(tmp_path, BILLION_LAUGHS))
    assert time.perf_counter() - started < 1.0
    assert error.problem is XmlProblem.DTD_FORBIDDEN and error.line == 2
    assert "lol" not in error.reason.replace("lolz", "")  # nothing was expanded into the message


def test_hostile_quadratic_blowup_is_refused(tmp_path: Path) -> None:
    big = "A" * 50_000
    text = (f'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY a "{big}">]>\n'
            f'<d3c:DCCloneConfig {NS}><ComputerName>{"&a;" * 500}</ComputerName></d3c:DCCloneConfig>')
    started = time.perf_counter()
    error = expect_29249(write(tmp_path, text))
    assert time.perf_counter() - started < 1.0
    assert error.problem is XmlProblem.DTD_FORBIDDEN


@pytest.mark.parametrize("doctype", [
    '<!DOCTYPE d [<!ENTITY xxe SYSTEM "file://{secret}">]>',
    '<!DOCTYPE d [<!ENTITY % p SYSTEM "file://{secret}"> %p;]>',
    '<!DOCTYPE d SYSTEM "file://{secret}">',
])
def test_hostile_xxe_never_reads_the_local_file(tmp_path: Path, doctype: str) -> None:
    marker = "TOP-SECRET-7f3e9a"
    secret = tmp_path / "secret.txt"
    secret.write_text(marker)
    text = (f'<?xml version="1.0"?>\n{doctype.format(secret=secret)}\n'
            f'<d3c:DCCloneConfig {NS}><ComputerName>&xxe;</ComputerName></d3c:DCCloneConfig>')
    path = write(tmp_path, text)
    error = expect_29249(path)
    assert error.problem is XmlProblem.DTD_FORBIDDEN
    assert marker not in str(error) and marker not in error.reason
    with pytest.raises(XmlLoadError) as raw:
        load_xml(path)
    assert raw.value.unsafe and marker not in str(raw.value)


def test_hostile_oversized_file_is_refused_without_parsing(tmp_path: Path) -> None:
    padding = "<!--" + "x" * (70 * 1024) + "-->"
    path = write(tmp_path, config_xml(f"{padding}<ComputerName>C</ComputerName>"))
    error = expect_29249(path)
    assert error.problem is XmlProblem.TOO_LARGE
    assert error.hresult == 0x800700DF  # HRESULT_FROM_WIN32(ERROR_FILE_TOO_LARGE)
    with pytest.raises(XmlLoadError) as raw:
        parse_xml_bytes(b"<a/>" * 10, source="mem", max_bytes=16)
    assert raw.value.problem is XmlProblem.TOO_LARGE


def test_hostile_deep_nesting_is_refused(tmp_path: Path) -> None:
    depth = 500
    path = write(tmp_path, config_xml("<a>" * depth + "</a>" * depth))
    error = expect_29249(path)
    assert error.problem is XmlProblem.TOO_DEEP


def test_hostile_schema_location_hints_are_ignored(tmp_path: Path) -> None:
    # An instance cannot swap in a permissive schema, local or remote.
    lax = tmp_path / "lax.xsd"
    lax.write_text('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" '
                   'targetNamespace="uri:microsoft.com:schemas:DCCloneConfig">'
                   '<xs:element name="DCCloneConfig"/></xs:schema>')
    text = (f'<d3c:DCCloneConfig {NS} xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            f'xsi:schemaLocation="uri:microsoft.com:schemas:DCCloneConfig {lax.as_uri()} '
            'uri:example http://example.invalid/evil.xsd"><Anything/></d3c:DCCloneConfig>')
    error = expect_29249(write(tmp_path, text))
    assert error.problem is XmlProblem.SCHEMA_INVALID and "Anything" in error.reason


def test_trusted_schema_loader_never_reaches_outside_its_folder(tmp_path: Path) -> None:
    (tmp_path / "outside.xsd").write_text('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
                                          '<xs:element name="x"/></xs:schema>')
    folder = tmp_path / "schema"
    folder.mkdir()
    includer = folder / "includer.xsd"
    includer.write_text('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
                        '<xs:include schemaLocation="../outside.xsd"/></xs:schema>')
    with pytest.raises(XMLResourceBlocked, match="sandbox"):
        load_trusted_schema(includer)
    importer = folder / "importer.xsd"
    importer.write_text('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
                        '<xs:import namespace="urn:x" schemaLocation="http://example.invalid/x.xsd"/></xs:schema>')
    with pytest.warns(XMLSchemaImportWarning, match="block access to remote resource"):
        load_trusted_schema(importer)


# --- R-CLSTEP-04: where a clone looks ------------------------------------------------------------------


def test_r_clstep_04_search_order_and_first_hit_wins(tmp_path: Path) -> None:
    dsa, windir = tmp_path / "DSA", tmp_path / "Windows"
    e, f = tmp_path / "E", tmp_path / "F"
    for folder in (dsa, windir / "NTDS", e, f):
        folder.mkdir(parents=True)
    locations = clone_config_search_locations(dsa, windir, {"F": f, "e": e})
    assert locations == [dsa, windir / "NTDS", e, f]
    assert find_clone_config(locations) is None
    write(f, config_xml("<ComputerName>FromF</ComputerName>"))
    write(e, config_xml("<ComputerName>FromE</ComputerName>"), name="dccloneconfig.XML")  # NTFS is case-blind
    assert parse_clone_config(find_clone_config(locations)).computer_name == "FromE"  # type: ignore[arg-type]
    write(windir / "NTDS", config_xml("<ComputerName>FromWindir</ComputerName>"))
    assert find_clone_config(locations) == windir / "NTDS" / FILE_NAME
    write(dsa, b"")
    assert parse_clone_config(find_clone_config(locations)).blank  # type: ignore[arg-type]


def test_r_clstep_04_default_dsa_directory_is_listed_once(tmp_path: Path) -> None:
    windir = tmp_path / "Windows"
    assert clone_config_search_locations(windir / "NTDS", windir) == [windir / "NTDS"]
