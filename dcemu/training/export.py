"""Pictures for slides: the timeline SVG as a PNG, rendered by headless Chromium.

Theory of operation
-------------------
The SVG is the one ``timeline.render_timeline`` draws; Chromium lays it out exactly as the
HTML report shows it, so the PNG and the report agree.  The SVG goes into a one-element page
(no margin) sized to the drawing, and ``--screenshot`` writes the PNG.  Chromium runs with the
flags the CI uses (no sandbox, no GPU, no network services) and a fresh profile directory, and
is given no URL other than the local file.

This is the only module of dcemu.training that starts a process; ``find_chromium`` looks in
``$DCEMU_CHROMIUM``, then ``chromium`` and ``chromium-browser`` on ``PATH``.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

from ..errors import DcemuError

#: The flags a headless Chromium needs here (as root, without GPU, without talking to anyone).
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--force-device-scale-factor=1")
#: Chromium's screenshots stop at this size (and slides do not need more).
MAX_SIDE = 16000


class ExportError(DcemuError):
    """No Chromium, or Chromium failed to render."""


def find_chromium() -> str | None:
    for candidate in (os.environ.get("DCEMU_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate:
            found = shutil.which(candidate)
            if found:
                return found
    return None


def chromium_command(chromium: str, profile: Path, *args: str) -> list[str]:
    return [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]


def run_chromium(*args: str, timeout: float = 120.0, chromium: str | None = None) -> subprocess.CompletedProcess:
    """Run Chromium with ``args`` and a throw-away profile; raises ExportError when it fails."""
    exe = chromium or find_chromium()
    if exe is None:
        raise ExportError("headless Chromium is needed for this (apt-get install chromium); set DCEMU_CHROMIUM "
                          "to its path if it is elsewhere")
    with tempfile.TemporaryDirectory(prefix="dcemu-chromium-") as profile:
        try:
            proc = subprocess.run(chromium_command(exe, Path(profile), *args), capture_output=True, timeout=timeout,
                                  check=False, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise ExportError(f"Chromium did not finish within {timeout:.0f} s") from None
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise ExportError(f"Chromium failed with exit code {proc.returncode}: {' | '.join(tail)}")
    return proc


def svg_size(svg: str) -> tuple[int, int]:
    m = re.search(r'<svg\b[^>]*\bwidth="(\d+)"[^>]*\bheight="(\d+)"', svg)
    if m is None:
        raise ExportError("the SVG has no width/height in pixels")
    return int(m.group(1)), int(m.group(2))


def svg_to_png(svg: str, out: str | Path, *, chromium: str | None = None) -> Path:
    """Render ``svg`` (text) to the PNG file ``out``; returns its path."""
    width, height = svg_size(svg)
    if width > MAX_SIDE or height > MAX_SIDE:
        raise ExportError(f"the timeline is {width}x{height} px, more than Chromium can capture ({MAX_SIDE}); "
                          "export a range of steps (--steps A-B)")
    target = Path(out).absolute()
    with tempfile.TemporaryDirectory(prefix="dcemu-svg-") as tmp:
        page = Path(tmp) / "timeline.html"
        page.write_text("<!DOCTYPE html><html><head><meta charset='utf-8'><style>html,body{margin:0;padding:0;"
                        "background:#fff}</style></head><body>" + svg + "</body></html>", encoding="utf-8")
        run_chromium(f"--screenshot={target}", f"--window-size={width},{height}", page.as_uri(), chromium=chromium)
    if not target.exists():
        raise ExportError(f"Chromium wrote no screenshot to {target}")
    return target


def png_size(path: str | Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    head = Path(path).read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        raise ExportError(f"{path} is not a PNG")
    return struct.unpack(">II", head[16:24])


def dump_dom(html: str | Path, *, chromium: str | None = None) -> str:
    """The DOM of a local HTML file after Chromium loaded it (``--dump-dom``)."""
    return run_chromium("--dump-dom", Path(html).absolute().as_uri(), chromium=chromium).stdout.decode("utf-8")
