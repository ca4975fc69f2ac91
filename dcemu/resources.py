"""Where the shipped data lives: schema/ and allowlists/ at the repository's top level.

They are plain directories users can read and edit (the layout the project promises); an
installed copy carries them inside the package as ``dcemu/_data/schema`` and
``dcemu/_data/allowlists``.  ``data_path`` finds whichever is present.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_path(kind: str, name: str = "") -> Path:
    """Path of ``schema`` or ``allowlists`` (or a file inside one)."""
    if kind not in ("schema", "allowlists"):
        raise ValueError(f"unknown data directory {kind!r}")
    for root in (_PACKAGE.parent / kind, _PACKAGE / "_data" / kind):
        if root.is_dir():
            return root / name if name else root
    raise FileNotFoundError(f"dcemu data directory {kind!r} not found (looked beside and inside the package)")
