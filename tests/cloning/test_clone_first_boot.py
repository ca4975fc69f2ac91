"""A clone's successful first boot, step by step (R-BOOT-03, R-CLSTEP-01..15, R-ACDC-02, R-NAME-01).

Each test imports one copy of the prepared and exported DC02 (see conftest.py), starts it with
DC01 (the PDC emulator) running, and checks what Windows would leave behind: events in order,
registry flags, the renamed DCCloneConfig.xml, the new DC objects on the PDC, and a DIT that is
the new DC's (identity, invocationId, RID pool) without having touched its source's objects.
"""

from __future__ import annotations

import re

from clone_helpers import attempt_ids, config_xml, event, ids, import_clone, start

from dcemu.cloning import workflow
from dcemu.cloning.allowlist import load_default_allow_list
from dcemu.cloning.config import FILE_NAME
from dcemu.dsa import ops, sam
from dcemu.guest.system import (
    DNSCACHE_PARAMETERS,
    NETLOGON_PARAMETERS,
    NTDS_PARAMETERS,
    TCPIP_PARAMETERS,
    SystemState,
    dfsr_database_dir,
    sysvol_state,
)
from dcemu.ids import Sid
from dcemu.lab.lab import Lab
from dcemu.repl import kcc, topology
from dcemu.rid.pool import RidRange
from dcemu.rid.service import pool_status

DOMAIN = "DC=corp,DC=example,DC=com"
CONFIG = f"CN=Configuration,{DOMAIN}"


def _clone(lab: Lab, vm: str = "CLONE1", xml: str | None = None):  # noqa: ANN202 - a DcGuest
    import_clone(lab, vm, config_xml=xml)
    return start(lab, vm)


def test_r_clstep_events_in_order_and_the_clone_reboots_as_a_dc(exported_lab: Lab) -> None:
    guest = _clone(exported_lab)
    seq = attempt_ids(guest)
    order = [2160, 1109, 2205, 2191, 2191, 2191, 1109, 2193, 2193, 2193, 29265, 29219, 29223, 2179]
    positions = [seq.index(order[0])]
    for event_id in order[1:]:
        positions.append(seq.index(event_id, positions[-1] + 1))
    assert positions == sorted(positions)
    assert seq[-4:] == [2168, 2172, 2171, 2174]            # the reboot after success (R-BOOT-02)
    assert 16654 in ids(guest, log="System")                # RID pool invalidated (R-CLSTEP-01)
    assert not {2162, 29218} & set(seq)
    assert guest.mode == "normal" and guest.dc.name == "DC02-CL0001"


def test_r_clstep_registry_flags_and_dsrm_flag(exported_lab: Lab) -> None:
    guest = _clone(exported_lab)
    reg = guest.registry
    assert reg.get(NTDS_PARAMETERS, "IsClone") == 1                     # R-CLSTEP-02
    assert reg.get(NTDS_PARAMETERS, "VdcCloningDone") == 1              # R-CLSTEP-15
    assert reg.get(NTDS_PARAMETERS, "VDCisCloning") is None            # deleted on success
    assert reg.get(NTDS_PARAMETERS, "CloneMachineName") == "DC02-CL0001"   # R-CLSTEP-09
    assert reg.get(NETLOGON_PARAMETERS, "UseDynamicDns") == 1           # R-CLSTEP-05 off, -14 on again
    assert reg.get(DNSCACHE_PARAMETERS, "RegistrationEnabled") == 1
    assert reg.get(TCPIP_PARAMETERS, "DisableDynamicUpdate") == 0
    folder = dfsr_database_dir(guest.disk)                               # R-CLSTEP-12 dropped, -14 synced
    assert sysvol_state(guest.disk) == "Normal" and "non-authoritative" in (folder / "dfsr.db.json").read_text()
    assert not guest.system.dsrm_boot                                    # R-CLSTEP-03 set, -15 cleared
    assert guest.system.computer_name == "DC02-CL0001"
    assert guest.system.ip_address == ""                                 # no IPSettings: DHCP (R-CLSTEP-07)


def test_r_clstep_15_config_file_renamed_with_its_time_stamp(exported_lab: Lab) -> None:
    guest = _clone(exported_lab)
    ntds = guest.disk / "Windows" / "NTDS"
    assert not (ntds / FILE_NAME).exists()
    record = event(guest, 29265)
    stamped = [p for p in ntds.iterdir() if re.fullmatch(r"DCCloneConfig\.\d{8}-\d{6}\.xml", p.name)]
    assert [str(p) for p in stamped] == [record.data["new"]]
    assert stamped[0].name == f"DCCloneConfig.{record.when():%Y%m%d-%H%M%S}.xml"


def test_r_acdc_02_pdc_creates_the_new_dc_objects(exported_lab: Lab) -> None:
    lab = exported_lab
    guest = _clone(lab)
    dc01 = lab.dc("DC01").directory
    source = dc01.find(f"CN=DC02,OU=Domain Controllers,{DOMAIN}")
    computer = dc01.find(f"CN=DC02-CL0001,OU=Domain Controllers,{DOMAIN}")
    assert computer is not None and computer.first("sAMAccountName") == "DC02-CL0001$"
    sid, source_sid = Sid.from_bytes(computer.first("objectSid")), Sid.from_bytes(source.first("objectSid"))
    assert sid != source_sid and sid.domain == source_sid.domain                 # a new machine account SID
    assert int(computer.first("userAccountControl")) & sam.UF_SERVER_TRUST_ACCOUNT
    assert computer.first("primaryGroupID") == "516"
    assert computer.first("operatingSystem") == source.first("operatingSystem")     # copied from the source
    assert computer.first("dNSHostName") == "DC02-CL0001.corp.example.com"
    spns = computer.attrs["servicePrincipalName"]
    assert "ldap/DC02-CL0001.corp.example.com" in spns and not any("DC02.corp" in s for s in spns)
    assert sam.nt_hash(computer) != sam.nt_hash(source)                         # its own password
    server_dn = f"CN=DC02-CL0001,CN=Servers,CN=Default-First-Site-Name,CN=Sites,{CONFIG}"
    ntds = dc01.find(f"CN=NTDS Settings,{server_dn}")
    assert ntds is not None and ntds.guid == guest.dc.directory.dsa_guid
    assert ntds.first("options") == dc01.find(f"CN=NTDS Settings,CN=DC02,CN=Servers,CN=Default-First-Site-Name,"
                                               f"CN=Sites,{CONFIG}").first("options")
    assert dc01.find(f"CN=RID Set,{computer.dn}") is not None
    # connections: the clone pulls from DC01 (the source did), DC01 pulls from the clone (it pulled from DC02)
    inbound = kcc.connections(dc01, ntds.guid)
    assert [c.source_dsa for c in inbound] == [dc01.dsa_guid]
    from_clone = [c for c in kcc.connections(dc01, dc01.dsa_guid) if c.source_dsa == ntds.guid]
    assert len(from_clone) == 1
    # not copied: group memberships (a clone is not cloneable by itself)
    group = dc01.find(f"CN=Cloneable Domain Controllers,CN=Users,{DOMAIN}")
    members = {lv.target for lv in dc01.store.links(group.guid, "member") if lv.present}
    assert source.guid in members and computer.guid not in members
    pdc_log = workflow.running_guest(lab, "DC01").eventlog
    pdc_ids = pdc_log.ids()
    assert pdc_ids.index(2182) < pdc_ids.index(2210) < pdc_ids.index(2215) < pdc_ids.index(2183)
    assert {2211, 2212, 2214, 2216, 2219, 2221, 2222, 2223}.issubset(pdc_ids)
    assert pdc_log.query(event_id=2183)[-1].data["error"] == "0"
    assert pdc_log.query(event_id=2221)[-1].data["sid"] == str(sid)


def test_r_clstep_13_the_dit_becomes_the_new_dcs_without_touching_the_sources_objects(exported_lab: Lab) -> None:
    lab = exported_lab
    guest = _clone(lab)
    d = guest.dc.directory
    st = d.store.state
    assert st("dcName") == "DC02-CL0001"
    assert st("dsServiceName") == f"CN=NTDS Settings,CN=DC02-CL0001,CN=Servers,CN=Default-First-Site-Name," \
                                  f"CN=Sites,{CONFIG}"
    assert st("ridSetDn") == f"CN=RID Set,CN=DC02-CL0001,OU=Domain Controllers,{DOMAIN}"
    dc01 = lab.dc("DC01").directory
    me_on_pdc = topology.dsa(dc01, d.dsa_guid)
    source_on_pdc = dc01.find(f"CN=NTDS Settings,CN=DC02,CN=Servers,CN=Default-First-Site-Name,CN=Sites,{CONFIG}")
    source_info = topology.dsa(dc01, source_on_pdc.guid)
    # a new invocationId: neither the source's nor the one of the first-attempt safeguards
    first, second = guest.eventlog.query(event_id=1109)[-2:]
    assert first.data["old"] == source_info.invocation_id
    assert second.data["old"] == first.data["new"] and second.data["new"] == d.invocation_id
    me = topology.dsa(d, d.dsa_guid)
    assert me.invocation_id == d.invocation_id != source_info.invocation_id
    assert first.data["new"] in {s.uuid_dsa_signature for s in me.retired}
    # the source's NTDS Settings in the clone's DIT still carries the source's id and stamp
    source_in_clone = d.get(source_on_pdc.guid)
    assert topology.dsa(d, source_on_pdc.guid).invocation_id == source_info.invocation_id
    assert source_in_clone.meta["invocationId"].stamp() == source_on_pdc.meta["invocationId"].stamp()
    # msDS-GenerationId: the clone's own computer object, the VM's current GenID (R-CLSTEP-15)
    genid = bytes.fromhex(workflow.vm_host(lab, "CLONE1").get_vm("CLONE1")[0].generation_id)
    assert d.find(guest.dc.identity.computer_dn).first("msDS-GenerationId") == genid[:8]
    assert me_on_pdc is not None and me_on_pdc.invocation_id == d.invocation_id


def test_r_clstep_13_new_rid_pool_and_new_principals_use_it(exported_lab: Lab) -> None:
    lab = exported_lab
    guest = _clone(lab)
    mine = RidRange.parse(pool_status(guest.dc).allocation_pool)
    pdc_pool = RidRange.parse(pool_status(lab.dc("DC01")).allocation_pool)
    source_rid_set = guest.dc.directory.find(f"CN=RID Set,CN=DC02,OU=Domain Controllers,{DOMAIN}")
    source_pool = RidRange.decode(source_rid_set.first("rIDAllocationPool"))
    assert not mine.empty and mine.size == 500
    for other in (pdc_pool, source_pool):
        assert mine.high < other.low or mine.low > other.high
    dn = guest.dc.add_user("alice", "Secr3t!Passw0rd")
    rid = Sid.from_bytes(guest.dc.directory.find(dn).first("objectSid")).rid
    assert mine.contains(rid)


def test_r_xml_02_name_site_and_static_ip_from_the_file(exported_lab: Lab) -> None:
    lab = exported_lab
    d1 = lab.dc("DC01").directory
    site = f"CN=Branch,CN=Sites,{CONFIG}"
    ops.add(d1, site, {"objectClass": ["site"]}, system=True)
    ops.add(d1, f"CN=NTDS Site Settings,{site}", {"objectClass": ["nTDSSiteSettings"]}, system=True)
    ops.add(d1, f"CN=Servers,{site}", {"objectClass": ["serversContainer"]}, system=True)
    xml = config_xml("<ComputerName>BRANCHDC1</ComputerName><SiteName>Branch</SiteName><IPSettings><IPv4Settings>"
                     "<StaticSettings><Address>10.0.1.10</Address><SubnetMask>255.255.255.0</SubnetMask>"
                     "<DNSResolver>10.0.0.1</DNSResolver></StaticSettings></IPv4Settings></IPSettings>")
    guest = _clone(lab, xml=xml)
    assert guest.dc.name == "BRANCHDC1" and guest.system.ip_address == "10.0.1.10"
    assert guest.dc.directory.store.state("site") == "Branch"
    assert d1.find(f"CN=NTDS Settings,CN=BRANCHDC1,CN=Servers,{site}").guid == guest.dc.directory.dsa_guid


def test_r_xml_03_blank_file_means_everything_automatic(exported_lab: Lab) -> None:
    guest = _clone(exported_lab, xml="")
    assert guest.dc.name == "DC02-CL0001" and 29219 in attempt_ids(guest)


def test_r_name_01_generated_names_take_the_next_free_number(exported_lab: Lab) -> None:
    lab = exported_lab
    names = []
    for vm in ("C1", "C2", "C3"):
        names.append(_clone(lab, vm).dc.name)
    assert names == ["DC02-CL0001", "DC02-CL0002", "DC02-CL0003"]
    assert SystemState.load(workflow.vm_disk(lab, "C2")).computer_name == "DC02-CL0002"


def test_r_clstep_14_sysprep_providers_scrub_the_source_name_and_are_logged(exported_lab: Lab) -> None:
    """R-CLSTEP-14 / R-ALLOW-01: the <SysprepInformation> providers run; the OS name settings become the clone's."""
    from dcemu.cloning.sysprep import DCPROMO_LOG
    from dcemu.guest.system import COMPUTER_NAME_KEY
    guest = _clone(exported_lab)
    assert guest.registry.get(COMPUTER_NAME_KEY, "ComputerName") == "DC02-CL0001"
    assert guest.registry.get(TCPIP_PARAMETERS, "Hostname") == "dc02-cl0001"
    log = (guest.disk / DCPROMO_LOG).read_text()
    assert "Calling sysprep provider dcemu!ScrubPreviousMachineIdentity" in log
    assert "'DC02' -> 'DC02-CL0001'" in log and "returned 0" in log


def test_sysprep_providers_run_in_order_and_an_unknown_one_is_skipped(tmp_path) -> None:
    from types import SimpleNamespace

    from dcemu.cloning.allowlist import SysprepModule
    from dcemu.cloning.sysprep import run_providers
    from dcemu.guest.system import COMPUTER_NAME_KEY, install_windows
    from dcemu.guest.system import Registry as GuestRegistry
    install_windows(tmp_path, os_version="2012R2", computer_name="SRC",
                    preinstalled_services=load_default_allow_list().services)
    guest = SimpleNamespace(disk=tmp_path, registry=GuestRegistry.load(tmp_path))
    lines = run_providers(guest, "SRC-CL0001", [SysprepModule("dcemu", "ScrubPreviousMachineIdentity", 0x200),
                                                SysprepModule("vendor", "Missing", 0x100)])
    assert lines[0] == "Sysprep provider vendor!Missing could not be loaded; skipped"
    assert lines[1].startswith("Calling sysprep provider dcemu!ScrubPreviousMachineIdentity (order 0x0200)")
    assert GuestRegistry.load(tmp_path).get(COMPUTER_NAME_KEY, "ComputerName") == "SRC-CL0001"
