"""Run Samba's dsdb conformance scripts against a live lab and print (or rewrite) the known-failures list.

    python tools/conformance_report.py --address 127.0.9.11           # a lab already up on real ports
    python tools/conformance_report.py --address 127.0.9.11 --write   # regenerate known_failures.toml

``--write`` keeps the reason already written for a test that still fails, and gives a new failure
its error's last line as a first reason (edit it into words).  Start the lab first, as root:
``dcemu lab up --dir /tmp/conf --address-base 127.0.9.11``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conformance import samba_suite as suite  # noqa: E402

#: First reasons for tests that still fail, by (script, test-name pattern): what dcemu lacks, in words.
#: The first matching rule wins; a failure no rule names gets "TODO: <its error>" and must be triaged.
REASONS: list[tuple[str, str, str]] = [
    ("ldap_schema", r"SchemaTests\.|msDS_IntId", "schema extension over LDAP (attributeSchema/classSchema adds, "
     "generated linkID/mAPIID/msDS-IntId) is not implemented: the schema is one shared read-only instance (issue 14 point 4)"),
    ("ldap_schema", r"msDS_isRODC", "msDS-isRODC (constructed) is not implemented"),
    ("ldap_syntaxes", r".", "the test first adds its own attributeSchema objects: schema extension over LDAP is not implemented"),
    ("urgent_replication", r".", "the script binds anonymously when run over LDAP (samba.tests.connect_samdb gets no "
     "credentials; upstream runs it against the local sam.ldb), and dcemu refuses anonymous writes as Windows does"),
    ("dirsync", r"Confidential", "confidential attributes (searchFlags CONFIDENTIAL) are not filtered from DirSync and "
     "search results by the caller's rights"),
    ("dirsync", r"FilteredDirsync|_attr$", "DirSync with Get-Changes but not Get-Changes-All: the filtered attribute set "
     "(RODC-filtered and confidential attributes) is not withheld"),
    ("dirsync", r"linkedattributes_range", "ranged retrieval (member;range=) inside a DirSync answer is not implemented"),
    ("dirsync", r"send_delta|deleted_items_OBJECT_SECURITY", "DirSync with OBJECT_SECURITY: per-object read checks and "
     "the delta of a moved or deleted object differ from Windows"),
    ("sam", r"userAccountControl|smartcard", "userAccountControl rules per object class on add/modify (MS-SAMR 3.1.1.8.10: "
     "TEMP_DUPLICATE, INTERDOMAIN_TRUST, SERVER_TRUST on a user, LOCKOUT/PASSWORD_EXPIRED bits, SMARTCARD_REQUIRED "
     "password reset) are not all enforced"),
    ("sam", r"groupType|users_groups|sam_attributes", "groupType validation and sAMAccountType/primaryGroupID rules "
     "on add and modify (MS-SAMR 3.1.1.8.x) are not all enforced"),
    ("sam", r"pwdLastSet|must_change_pwd", "pwdLastSet values other than 0/-1 and the must-change-password bind "
     "error (data 773) are not implemented"),
    ("sam", r"service_principal_name", "SPN validated writes, uniqueness (2012 R2) and the rewrite on dNSHostName/"
     "sAMAccountName changes are not implemented"),
    ("sam", r"description", "AD's single-valued treatment of description on SAM objects is not enforced"),
    ("sam", r"primary_group_token", "primaryGroupToken on a non-group: Windows' result code is not matched"),
    ("sam", r"fSMORoleOwner", "fSMORoleOwner written to a DN that is not an nTDSDSA is not refused"),
    ("sam", r"new_user_default", "the attributes returned for * on a new user differ (nTSecurityDescriptor without "
     "the SD-flags control)"),
    ("tombstone_reanimation", r"group", "a reanimated group lacks sAMAccountType/adminCount/operatorCount as "
     "Windows restores them"),
    ("tombstone_reanimation", r".", "the attributes a reanimated object shows for * differ from Windows' "
     "(nTSecurityDescriptor without the SD-flags control, name/description on add)"),
    ("deletetest", r"delete_protection", "deleting an object protected by systemFlags that also has children: Windows "
     "checks the protection first (53), dcemu the children (66)"),
    ("deletetest", r".", "tree delete of a subtree holding a deleted-object container: the tombstones' attributes "
     "differ from Windows'"),
    ("linked_attributes", r"replace", "a replace with duplicate link values is not refused with entryAlreadyExists (68)"),
    ("linked_attributes", r"delete_link", "removing a link value that is not there is not refused"),
    ("linked_attributes", r".", "linked-value edge cases (one-way links, many values in one add) differ from Windows'"),
    ("ldap", r"netlogon", "the rootDSE netlogon attribute over TCP: Windows returns nothing, dcemu an entry"),
    ("ldap", r"rdn_name|distinguished_name", "an empty RDN value (cn=) and writes of distinguishedName are not refused "
     "with Windows' codes (invalidDNSyntax 34, noSuchAttribute 16)"),
    ("ldap", r"objectGUID|linked_attributes$|instanceType|system_only|empty_attributes|objectclasses|single_valued_linked",
     "validation on add/modify AD does that dcemu skips (objectGUID/memberOf on add, instanceType values, system-only "
     "classes, empty values, two managedBy values) or answers with another result code"),
    ("ldap", r"security_descriptor", "writes of nTSecurityDescriptor (empty SD, owner/group rules) differ from Windows'"),
    ("ldap", r"timevalues", "GeneralizedTime is parsed more strictly than AD parses it (2-digit years, no Z)"),
    ("ldap", r"dsheuristics", "dSHeuristics length/format validation is not implemented"),
    ("ldap", r"parentGUID", "parentGUID (constructed) is not returned"),
    ("ldap", r"ldapSearchNoAttributes|test_all", "searches whose result differs from Windows' (an empty attribute "
     "list, the whole-forest listing)"),
    ("ldap", r"rename", "modifyDN edge cases (rename of protected objects answers other, 80) differ from Windows'"),
]


def _reason(script: str, test: str) -> str | None:
    import re
    for rule_script, pattern, reason in REASONS:
        if rule_script == script and re.search(pattern, test):
            return reason
    return None


def _toml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--address", required=True, help="DC01's address (served on ports 389/3268)")
    ap.add_argument("--domain", default="corp.example.com")
    ap.add_argument("--netbios", default="CORP")
    ap.add_argument("--password", default="Passw0rd!")
    ap.add_argument("--only", nargs="*", help="scripts to run (default: all)")
    ap.add_argument("--write", action="store_true", help="rewrite known_failures.toml")
    args = ap.parse_args()
    target = suite.Target(args.address, args.domain, args.netbios, "Administrator", args.password)
    tree = suite.source_tree()
    known = suite.load_known_failures() if suite.KNOWN_FAILURES.exists() else {}
    total = passed = 0
    sections: list[str] = []
    for script in args.only or list(suite.SCRIPTS):
        with tempfile.TemporaryDirectory() as tmp:
            outcomes, _ = suite.run_script(tree, script, target, Path(tmp))
        ok = sum(1 for o in outcomes.values() if o.ok)
        total += len(outcomes)
        passed += ok
        print(f"{script:24s} {ok:4d}/{len(outcomes):<4d}")
        failing = sorted(t for t, o in outcomes.items() if not o.ok)
        lines = [f"[{script}]"]
        for t in failing:
            kept = known.get(script, {}).get(t, "")
            reason = (kept if kept and not kept.startswith("TODO:") else
                      _reason(script, t) or f"TODO: {outcomes[t].detail}")
            lines.append(f"{_toml_str(t)} = {_toml_str(reason)}")
        sections.append("\n".join(lines))
    print(f"{'total':24s} {passed:4d}/{total:<4d} ({100 * passed / max(total, 1):.0f}%)")
    if args.write:
        head = ("# Samba dsdb tests that still fail against dcemu, each with its reason.\n"
                "# tests/conformance/test_samba_dsdb.py fails when one of these passes (delete its line)\n"
                "# or a test not listed here fails.  Regenerate: python tools/conformance_report.py --write\n\n")
        suite.KNOWN_FAILURES.write_text(head + "\n\n".join(sections) + "\n")
        print(f"wrote {suite.KNOWN_FAILURES}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
