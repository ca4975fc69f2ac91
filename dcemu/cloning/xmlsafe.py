"""Safe loading of untrusted XML files (DCCloneConfig.xml, the clone allow lists).

Theory of operation
-------------------
Every XML file a clone reads at first boot sits on a disk an attacker (or a careless
hypervisor admin) may have written: DCCloneConfig.xml in the DSA working directory or on a
USB stick, CustomDCCloneAllowList.xml in a folder named by the registry (virtualized-dc.md
R-XML-01, R-ALLOW-03, R-CLSTEP-04).  Windows parses them with MSXML6, which never expands
DTDs for these files; dcemu must be at least as strict, so :func:`load_xml`:

1. refuses a file larger than ``max_bytes`` *before* reading it (``stat``) and again while
   reading it (a file that grows under us is cut off, not trusted);
2. parses with :mod:`defusedxml`'s expat parser set to refuse any ``<!DOCTYPE>`` at all
   (``forbid_dtd``), any entity declaration (billion laughs, quadratic blowup) and any
   external reference (XXE, external DTDs) -- the document is rejected at the DOCTYPE,
   before a single entity is expanded or a local file opened;
3. caps the element depth (a deeply nested document is not a clone configuration);
4. optionally validates the parsed tree against an XSD with :mod:`xmlschema`.  The instance
   is handed to xmlschema already parsed, so xmlschema never opens the untrusted file, and
   schema location hints inside it are ignored (``use_location_hints=False``).  Our own
   schemas are loaded with ``defuse='always'`` and ``allow='sandbox'`` (no remote fetches,
   nothing outside the schema's directory).

Every failure is an :class:`XmlLoadError` carrying the file, the line (when expat or the
validator knows it) and a :class:`XmlProblem` kind; callers turn it into their own
AD-shaped error (event 29249 for DCCloneConfig.xml, 29267 for allow lists).
"""

from __future__ import annotations

import enum
import errno
import functools
import os
import re
import stat
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import xmlschema
from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser

from dcemu.errors import DcemuError

#: Default ceiling for one file.  A real DCCloneConfig.xml is < 2 KiB and an allow list a few
#: KiB; 1 MiB leaves room for a large custom list while keeping a hostile file cheap to refuse.
DEFAULT_MAX_BYTES = 1 << 20

#: Elements deeper than this are refused; the deepest legitimate path is 5
#: (DCCloneConfig/IPSettings/IPv4Settings/StaticSettings/DNSResolver).
DEFAULT_MAX_DEPTH = 32

_READ_CHUNK = 64 * 1024
_CLARK = re.compile(r"\{[^}]*\}")  # "{namespace}" prefixes in validator paths


class XmlProblem(enum.Enum):
    """Why a file was refused."""

    UNREADABLE = "unreadable"  # missing, a directory, permission denied
    TOO_LARGE = "too_large"
    DTD_FORBIDDEN = "dtd_forbidden"
    ENTITY_FORBIDDEN = "entity_forbidden"
    EXTERNAL_REFERENCE_FORBIDDEN = "external_reference_forbidden"
    TOO_DEEP = "too_deep"
    MALFORMED = "malformed"  # not well-formed XML (expat error)
    SCHEMA_INVALID = "schema_invalid"  # well-formed but not valid against the XSD


#: The kinds that mean "someone tried something hostile", not "someone made a typo".
UNSAFE_PROBLEMS = frozenset({
    XmlProblem.TOO_LARGE, XmlProblem.DTD_FORBIDDEN, XmlProblem.ENTITY_FORBIDDEN,
    XmlProblem.EXTERNAL_REFERENCE_FORBIDDEN, XmlProblem.TOO_DEEP,
})


class XmlLoadError(DcemuError):
    """An XML file could not be loaded safely, or is not valid.

    Attributes:
        path: the file (as given).
        problem: an :class:`XmlProblem`.
        reason: human-readable detail (never contains the file's content beyond a tag name).
        line: 1-based line of the problem, when known.
        os_errno: the OS error number for ``UNREADABLE`` (``errno.ENOENT`` ...), else None.
    """

    def __init__(self, path: str, problem: XmlProblem, reason: str, *, line: int | None = None,
                 os_errno: int | None = None) -> None:
        where = f"{path}, line {line}" if line else path
        super().__init__(f"{where}: {reason}")
        self.path = path
        self.problem = problem
        self.reason = reason
        self.line = line
        self.os_errno = os_errno

    @property
    def unsafe(self) -> bool:
        """True when the file was refused as hostile (DTD, entities, size, depth)."""
        return self.problem in UNSAFE_PROBLEMS


@dataclass(frozen=True)
class LoadedXml:
    """A parsed, (optionally) validated document and where each element started."""

    path: str
    root: ET.Element
    _lines: dict[int, int] = field(repr=False, compare=False)

    def line_of(self, element: ET.Element) -> int | None:
        """1-based line where ``element``'s start tag was read (None if not from this file)."""
        return self._lines.get(id(element))


class _LineRecordingBuilder(ET.TreeBuilder):
    """TreeBuilder that notes the expat line of every start tag and enforces a depth cap."""

    def __init__(self, max_depth: int) -> None:
        super().__init__()
        self.parser: DefusedXMLParser | None = None
        self.lines: dict[int, int] = {}
        self._depth = 0
        self._max_depth = max_depth

    def _line(self) -> int:
        assert self.parser is not None
        return int(self.parser.parser.CurrentLineNumber)

    def start(self, tag: str, attrs: dict[str, str]) -> ET.Element:  # type: ignore[override]
        self._depth += 1
        if self._depth > self._max_depth:
            raise _TooDeep(self._line())
        element = super().start(tag, attrs)
        self.lines[id(element)] = self._line()
        return element

    def end(self, tag: str) -> ET.Element:  # type: ignore[override]
        self._depth -= 1
        return super().end(tag)


class _TooDeep(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


def read_bounded(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """Read a whole file, refusing it if it is (or becomes) larger than ``max_bytes``.

    Raises:
        XmlLoadError: ``UNREADABLE`` or ``TOO_LARGE``.
    """
    name = os.fspath(path)
    try:
        # O_NONBLOCK so a FIFO planted under the expected name cannot hang the open; the type
        # and size checks use fstat on the opened descriptor (no stat/open race).
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with open(fd, "rb", closefd=True) as handle:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise XmlLoadError(name, XmlProblem.UNREADABLE, "not a regular file", os_errno=errno.EACCES)
            if info.st_size > max_bytes:
                raise XmlLoadError(name, XmlProblem.TOO_LARGE,
                                   f"file is {info.st_size} bytes, more than the {max_bytes}-byte limit")
            chunks: list[bytes] = []
            total = 0
            while chunk := handle.read(_READ_CHUNK):
                total += len(chunk)
                if total > max_bytes:  # the file grew after stat(): still refuse
                    raise XmlLoadError(name, XmlProblem.TOO_LARGE,
                                       f"file grew past the {max_bytes}-byte limit while being read")
                chunks.append(chunk)
    except OSError as exc:
        raise XmlLoadError(name, XmlProblem.UNREADABLE, exc.strerror or str(exc), os_errno=exc.errno) from exc
    return b"".join(chunks)


def parse_xml_bytes(data: bytes, *, source: str, max_bytes: int = DEFAULT_MAX_BYTES,
                    max_depth: int = DEFAULT_MAX_DEPTH,
                    schema: xmlschema.XMLSchemaBase | None = None) -> LoadedXml:
    """Parse untrusted XML held in memory; see :func:`load_xml` for the rules.

    Args:
        data: the raw bytes (expat honours a BOM or the XML declaration's encoding).
        source: the name used in errors (normally the file path).
        max_bytes: refuse ``data`` longer than this.
        max_depth: refuse elements nested deeper than this.
        schema: validate against this schema when given.

    Raises:
        XmlLoadError: with the problem kind and, when known, the line.
    """
    if len(data) > max_bytes:
        raise XmlLoadError(source, XmlProblem.TOO_LARGE,
                           f"document is {len(data)} bytes, more than the {max_bytes}-byte limit")
    builder = _LineRecordingBuilder(max_depth)
    parser = DefusedXMLParser(target=builder, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    builder.parser = parser

    def line_now() -> int:
        return int(parser.parser.CurrentLineNumber)

    try:
        parser.feed(data)
        root = parser.close()
    except DTDForbidden as exc:
        raise XmlLoadError(source, XmlProblem.DTD_FORBIDDEN,
                           f"document type declaration <!DOCTYPE {exc.name}> is not allowed",
                           line=line_now()) from None
    except EntitiesForbidden as exc:  # only reachable if a DTD slipped through; kept as a second fence
        raise XmlLoadError(source, XmlProblem.ENTITY_FORBIDDEN,
                           f"entity declaration {exc.name!r} is not allowed", line=line_now()) from None
    except ExternalReferenceForbidden:
        raise XmlLoadError(source, XmlProblem.EXTERNAL_REFERENCE_FORBIDDEN,
                           "external entity reference is not allowed", line=line_now()) from None
    except _TooDeep as exc:
        raise XmlLoadError(source, XmlProblem.TOO_DEEP,
                           f"elements nested deeper than {max_depth} levels", line=exc.line) from None
    except ET.ParseError as exc:
        line, _column = exc.position
        # expat's message ends with ": line N, column M"; keep only the reason.
        reason = str(exc).split(": line ")[0]
        raise XmlLoadError(source, XmlProblem.MALFORMED, f"not well-formed XML: {reason}", line=line) from None

    loaded = LoadedXml(source, root, builder.lines)
    if schema is not None:
        _validate(loaded, schema)
    return loaded


def load_xml(path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES,
             max_depth: int = DEFAULT_MAX_DEPTH, schema: xmlschema.XMLSchemaBase | None = None) -> LoadedXml:
    """Load one untrusted XML file safely (and validate it when ``schema`` is given).

    Refuses: files over ``max_bytes``; any DTD (so billion laughs, quadratic blowup and XXE
    never get started); entity declarations and external references (second fence); nesting
    deeper than ``max_depth``; malformed XML; and, with a schema, anything the XSD rejects.

    Raises:
        XmlLoadError: typed by :class:`XmlProblem`, with file and line.
    """
    name = os.fspath(path)
    data = read_bounded(name, max_bytes)
    return parse_xml_bytes(data, source=name, max_bytes=max_bytes, max_depth=max_depth, schema=schema)


def _validate(loaded: LoadedXml, schema: xmlschema.XMLSchemaBase) -> None:
    """Validate an already-parsed tree; raise on the first error (the one MSXML would report)."""
    for error in schema.iter_errors(loaded.root, use_location_hints=False):
        # For a content-model error xmlschema points at the parent; the offending child is
        # where a human should look, so prefer its line.
        element = getattr(error, "invalid_child", None)
        if not isinstance(element, ET.Element):
            element = error.elem if isinstance(error.elem, ET.Element) else None
        line = loaded.line_of(element) if element is not None else None
        reason = (error.reason or error.message).rstrip(".")
        where = f" (at {_CLARK.sub('', error.path)})" if error.path else ""
        raise XmlLoadError(loaded.path, XmlProblem.SCHEMA_INVALID, f"{reason}{where}", line=line)


@functools.lru_cache(maxsize=8)
def load_trusted_schema(path: str | os.PathLike[str]) -> xmlschema.XMLSchema10:
    """Load one of dcemu's own XSD files, without any network or out-of-directory access.

    The schemas live in ``schema/`` (see :func:`dcemu.resources.data_path`); they are trusted,
    but are still loaded with ``defuse='always'`` and ``allow='sandbox'`` so a tampered schema
    cannot reach the network or read files beside it.  Cached per path.
    """
    schema_file = Path(path).resolve()
    return xmlschema.XMLSchema10(str(schema_file), base_url=str(schema_file.parent), defuse="always",
                                 allow="sandbox")


# --- writing ------------------------------------------------------------------------------------

#: What .NET's XmlTextWriter puts between nodes on Windows with Formatting.Indented.
NEWLINE = "\r\n"
INDENT = "  "


@dataclass(frozen=True)
class XmlNode:
    """An element to write: text-only, children-only, or empty (no mixed content needed)."""

    tag: str
    text: str | None = None
    children: tuple[XmlNode, ...] = ()
    attributes: tuple[tuple[str, str], ...] = ()


def write_indented(root: XmlNode, declaration: str) -> str:
    """Serialize like ``XmlDocument.WriteContentTo(XmlTextWriter{Formatting.Indented})``.

    The declaration on its own line, two-space indentation, CRLF, text-only elements on one
    line, ``<tag />`` for empty elements, and no newline after the last end tag.  Text and
    attribute values are escaped.
    """
    return NEWLINE.join([declaration, *_lines(root, 0)])


def _lines(node: XmlNode, depth: int) -> list[str]:
    pad = INDENT * depth
    start = node.tag + "".join(f" {name}={quoteattr(value)}" for name, value in node.attributes)
    if node.children:
        inner = [line for child in node.children for line in _lines(child, depth + 1)]
        return [f"{pad}<{start}>", *inner, f"{pad}</{node.tag}>"]
    if node.text:
        return [f"{pad}<{start}>{escape(node.text)}</{node.tag}>"]
    return [f"{pad}<{start} />"]
