"""Why the safeguards matter: a copy made without them (a 2008 R2 guest) is a second DC with the same identity.

Windows Server 2008 R2 knows nothing of the VM-Generation ID (R-SAFE-10): an imported copy boots as
its source -- same DSA GUID, same invocationId, same RID pool -- so once both run, each issues
the same RIDs: duplicate SIDs (R-RID-10).  The same copy of a 2012 R2 DC goes through the safe-
restore safeguards (R-BOOT-04): a new invocationId and a new RID pool, so its new principals
cannot collide, though it is still a duplicate DC that must be removed.
"""

from __future__ import annotations

from clone_helpers import import_clone

from dcemu.cloning import workflow
from dcemu.cloning.config import FILE_NAME
from dcemu.duplicates import find_duplicate_sids
from dcemu.ids import Sid
from dcemu.lab.lab import Lab

DOMAIN = "DC=corp,DC=example,DC=com"


def _rid(dc, name: str) -> int:  # noqa: ANN001
    return Sid.from_bytes(dc.directory.find(f"CN={name},CN=Users,{DOMAIN}").first("objectSid")).rid


def test_a_2008_r2_copy_is_the_same_dc_and_issues_the_same_sids(two_dc_lab: Lab) -> None:
    lab = two_dc_lab
    lab.add_dc("OLD", "HV01", os_version="2008R2", ip="10.0.0.3", generation=1)
    hv = lab.host("HV01")
    hv.stop_vm("OLD")
    exported = workflow.export_source(lab, "OLD", lab.dir / "exports")
    workflow.import_clones(lab, exported.path, ["OLDCOPY"])
    hv.start_vm("OLD")
    hv.start_vm("OLDCOPY")
    old, copy = lab.dc("OLD"), lab.dc("OLDCOPY")
    assert workflow.running_guest(lab, "OLDCOPY").boot_case == "no-genid-support"
    assert copy.name == old.name == "OLD"
    assert copy.directory.dsa_guid == old.directory.dsa_guid
    assert copy.directory.invocation_id == old.directory.invocation_id      # no new database identity
    old.add_user("bob", "Secr3t!Passw0rd")
    copy.add_user("carol", "Secr3t!Passw0rd")
    assert _rid(old, "bob") == _rid(copy, "carol")                          # the same RID pool, twice
    duplicates = find_duplicate_sids({"OLD": old, "OLDCOPY": copy})
    assert len(duplicates) == 1
    assert {h.dn.split(",")[0] for h in duplicates[0].holders} == {"CN=bob", "CN=carol"}


def test_the_same_copy_of_a_2012_r2_dc_runs_the_safeguards_and_cannot_collide(exported_lab: Lab) -> None:
    lab = exported_lab
    disk = import_clone(lab, "COPY")
    (disk / "Windows" / "NTDS" / FILE_NAME).unlink()            # a copy, not a prepared clone (R-BOOT-04)
    workflow.vm_host(lab, "COPY").start_vm("COPY")
    copy = lab.dc("COPY")
    copy.add_user("carol", "Secr3t!Passw0rd")
    copy_invocation = copy.directory.invocation_id
    lab.host("HV01").stop_vm("COPY")
    (workflow.vm_disk(lab, "DC02") / "Windows" / "NTDS" / FILE_NAME).unlink()
    lab.host("HV01").start_vm("DC02")
    source = lab.dc("DC02")
    source.add_user("bob", "Secr3t!Passw0rd")
    assert copy_invocation != source.directory.invocation_id
    lab.host("HV01").start_vm("COPY")
    assert _rid(source, "bob") != _rid(lab.dc("COPY"), "carol")
    assert find_duplicate_sids({"DC02": source, "COPY": lab.dc("COPY")}) == []
