#!/usr/bin/env python3
"""Convert Microsoft's published AD DS schema (LDIF) into the JSON files dcemu loads.

Theory of operation
-------------------
Microsoft publishes the Windows Server 2012 R2 schema as two LDIF files (attributeSchema and
classSchema objects, MS-ADA1/2/3 and MS-ADSC).  dcemu ships a faithful, compact copy of them:

* ``schema/attributes.json`` and ``schema/classes.json``: one JSON object per schema object and
  per line (stable diffs), objects sorted by lDAPDisplayName, keys sorted.  Every LDIF attribute
  is kept except ``dn`` (always ``CN=<cn>,CN=Schema,CN=Configuration,DC=X``, checked here) and
  ``changetype``.  Values stay in their LDAP string form (``"TRUE"``, ``"16"``); binary values
  (schemaIDGUID, attributeSecurityGUID, oMObjectClass) stay base64 as in the LDIF; the
  multi-valued attributes (objectClass, mayContain, systemPossSuperiors, ...) are lists in
  source order.
* ``schema/NOTICE.txt``: Microsoft's notice from the LDIF headers plus the redistribution note,
  because the notice allows shipping the schema only inside an implementation, with the notice.

The conversion is deterministic: the same input gives byte-identical output, so
``python tools/gen_schema.py`` can be re-run at any time and ``git diff`` shows nothing.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = ROOT.parent / "shared" / "reference" / "ad-schema"
DEFAULT_OUT = ROOT / "schema"

ATTRIBUTES_LDF = "AD_DS_Attributes__Windows_Server_2012_R2.ldf"
CLASSES_LDF = "AD_DS_Classes__Windows_Server_2012_R2.ldf"
LICENCE = "licence.txt"

#: Counts in Microsoft's Windows Server 2012 R2 files; a different count means a different input.
EXPECTED_ATTRIBUTES = 1473
EXPECTED_CLASSES = 264

#: Attributes that may occur more than once in one LDIF record: always stored as lists.
MULTI_VALUED = frozenset({
    "objectClass", "mustContain", "systemMustContain", "mayContain", "systemMayContain",
    "possSuperiors", "systemPossSuperiors", "auxiliaryClass", "systemAuxiliaryClass",
})
#: Octet-string attributes: kept base64 (their LDIF form); other ``::`` values are UTF-8 text.
BINARY = frozenset({"schemaIDGUID", "attributeSecurityGUID", "oMObjectClass"})
#: The placeholder DN Microsoft's files use for the forest root.
SCHEMA_SUFFIX = ",CN=Schema,CN=Configuration,DC=X"

Record = dict[str, str | list[str]]


class SchemaSourceError(ValueError):
    """The LDIF input is not what this converter was written for."""


def read_ldf(path: Path) -> str:
    """Read an LDF file; Microsoft's are Windows-1252 with CRLF line ends."""
    return path.read_bytes().decode("cp1252").replace("\r\n", "\n")


def notice_header(text: str) -> str:
    """The leading ``#`` comment block (Microsoft's notice), without the ``# `` markers."""
    lines = []
    for line in text.split("\n"):
        if line.startswith("dn:"):
            break
        if line.startswith("#"):
            lines.append(line[1:].strip())
        elif lines and lines[-1] != "":
            lines.append("")
    return "\n".join(lines).strip() + "\n"


def parse_ldif(text: str) -> list[Record]:
    """Parse the LDIF content records (RFC 2849 subset: folding, ``::`` base64, comments)."""
    records: list[Record] = []
    for block in text.split("\n\n"):
        # Unfold continuation lines (RFC 2849: a line starting with one space continues the previous).
        lines: list[str] = []
        for raw in block.split("\n"):
            if raw.startswith("#"):
                continue
            if raw.startswith(" ") and lines:
                lines[-1] += raw[1:]
            elif raw.strip():
                lines.append(raw)
        if not lines or not lines[0].startswith("dn:"):
            continue
        records.append(_record(lines))
    return records


def _record(lines: list[str]) -> Record:
    dn = lines[0][3:].strip()
    rec: Record = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise SchemaSourceError(f"{dn}: not an attribute line: {line!r}")
        if value.startswith(":"):
            value = value[1:].strip()
            if name not in BINARY:
                value = base64.b64decode(value, validate=True).decode("utf-8")
        else:
            value = value.strip()
        if name == "changetype":
            if value != "add":
                raise SchemaSourceError(f"{dn}: changetype {value!r} not supported")
            continue
        if name in MULTI_VALUED:
            values = rec.setdefault(name, [])
            assert isinstance(values, list)
            values.append(value)
        elif name in rec:
            raise SchemaSourceError(f"{dn}: {name} repeated but not known to be multi-valued")
        else:
            rec[name] = value
    cn = rec.get("cn")
    if dn != f"CN={cn}{SCHEMA_SUFFIX}":
        raise SchemaSourceError(f"unexpected DN {dn!r} for cn {cn!r}")
    return rec


def _check(records: list[Record], kind: str, expected: int) -> None:
    if len(records) != expected:
        raise SchemaSourceError(f"expected {expected} {kind} objects, found {len(records)}")
    names = [str(r["lDAPDisplayName"]).lower() for r in records]
    if len(set(names)) != len(names):
        raise SchemaSourceError(f"duplicate lDAPDisplayName among {kind} objects")
    for r in records:
        if r.get("objectClass") != ["top", kind]:
            raise SchemaSourceError(f"{r['cn']}: objectClass {r.get('objectClass')} is not top/{kind}")


def render_json(kind: str, source: str, records: list[Record]) -> str:
    """One object per line, sorted by lDAPDisplayName (case-insensitively), keys sorted."""
    ordered = sorted(records, key=lambda r: (str(r["lDAPDisplayName"]).lower(), str(r["lDAPDisplayName"])))
    body = ",\n".join(json.dumps(r, sort_keys=True, ensure_ascii=False, separators=(",", ":")) for r in ordered)
    head = json.dumps({"kind": kind, "source": source, "count": len(records),
                       "binary": sorted(BINARY), "multi_valued": sorted(MULTI_VALUED)},
                      sort_keys=True, separators=(",", ":"))
    # The header fields go first and the object list last so the file reads top-down.
    return head[:-1] + ',"objects":[\n' + body + "\n]}\n"


def render_notice(attr_text: str, class_text: str, licence: str) -> str:
    """NOTICE.txt: what the files are, Microsoft's notice (once) and the note that came with them."""
    lines: list[str] = []
    for text in (attr_text, class_text):
        # Both headers carry the same notice; only their last line (attribute/class) differs.
        lines.extend(line for line in notice_header(text).splitlines() if line == "" or line not in lines)
    notice = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    rule = "=" * 78
    return (
        "The files attributes.json and classes.json in this directory are derived from Microsoft's\n"
        "published Active Directory Domain Services schema for Windows Server 2012 R2\n"
        f"({ATTRIBUTES_LDF} and\n {CLASSES_LDF}, as shipped in\n"
        "Debian's samba-ad-provision).  They are distributed as part of dcemu, an implementation\n"
        "of the technologies described in the Open Specifications, and not on their own.\n"
        "Microsoft's notice, as it heads those files, follows.\n\n"
        f"{rule}\n{notice}\n{rule}\n\n"
        "Note that came with the files (licence.txt):\n\n"
        f"{licence.strip()}\n"
    )


def convert(source_dir: Path, out_dir: Path) -> dict[str, Path]:
    """Convert the two LDIF files in ``source_dir`` into ``out_dir``; returns the files written."""
    attr_text = read_ldf(source_dir / ATTRIBUTES_LDF)
    class_text = read_ldf(source_dir / CLASSES_LDF)
    licence = (source_dir / LICENCE).read_text(encoding="utf-8")
    attributes = parse_ldif(attr_text)
    classes = parse_ldif(class_text)
    _check(attributes, "attributeSchema", EXPECTED_ATTRIBUTES)
    _check(classes, "classSchema", EXPECTED_CLASSES)
    outputs = {
        "attributes.json": render_json("attributeSchema", ATTRIBUTES_LDF, attributes),
        "classes.json": render_json("classSchema", CLASSES_LDF, classes),
        "NOTICE.txt": render_notice(attr_text, class_text, licence),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, content in outputs.items():
        path = out_dir / name
        path.write_bytes(content.encode("utf-8"))
        written[name] = path
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="folder with the .ldf files")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: schema/)")
    args = parser.parse_args(argv)
    try:
        written = convert(args.source, args.out)
    except (OSError, SchemaSourceError) as exc:
        print(f"gen_schema: {exc}", file=sys.stderr)
        return 1
    for path in written.values():
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
