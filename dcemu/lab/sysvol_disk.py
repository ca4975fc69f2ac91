"""A DC's SYSVOL folder on its VM disk: ``Windows/SYSVOL/domain`` with the default GPOs' files.

The content comes from dcemu.dsa.defaults.sysvol_files (GPT.INI with the versionNumber of each
default groupPolicyContainer, the security templates).  The first DC gets it at dcpromo, every
other DC by SYSVOL's initial sync; both are modelled as writing the same files at promotion.
# DIVERGENCE: later GPO edits are not mirrored into SYSVOL (no GPMC in the emulator).
"""

from __future__ import annotations

from pathlib import Path

from ..dsa.defaults import sysvol_files

SYSVOL_DIR = Path("Windows") / "SYSVOL"


def write_sysvol(disk: Path) -> Path:
    """Write the default SYSVOL content under ``disk`` (idempotent); returns the SYSVOL folder."""
    root = disk / SYSVOL_DIR
    for rel, data in sysvol_files().items():
        path = root / rel
        if rel.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_bytes(data)
    return root
