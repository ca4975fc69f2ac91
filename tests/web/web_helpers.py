"""Shared by the classroom-view tests: a `dcemu lab up --web` process, headless Chromium, page actions."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]

#: DC01 (2012 R2) creates the forest; DC02 runs 2008 R2 (no VM-Generation ID support), DC03 2012 R2.
TOPOLOGY = """\
seed = 20121
[forest]
dns_name = "corp.example.com"
netbios_name = "CORP"
admin_password = "Passw0rd!"
[[hosts]]
name = "HV01"
os_version = "2012R2"
[[dcs]]
name = "DC01"
host = "HV01"
os_version = "2012R2"
[[dcs]]
name = "DC02"
host = "HV01"
os_version = "2008R2"
generation = 1
[[dcs]]
name = "DC03"
host = "HV01"
os_version = "2012R2"
"""


def need_browser() -> Any:
    """Playwright's sync API driving Debian's chromium; skipped only outside CI when either is missing."""
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "the playwright package is not installed (pip install -e '.[test]')"
        sync_playwright = None
    if missing is None and not Path(CHROMIUM).exists():
        missing = f"{CHROMIUM} is not installed (.ci/run installs Debian's chromium)"
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    return sync_playwright


@contextmanager
def served(args: list[str], marker: str, cwd: Path) -> Iterator[tuple[subprocess.Popen, str]]:
    """Run ``dcemu ARGS`` until it prints ``marker ... URL``; yield (process, URL); stop it with SIGTERM."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "dcemu.cli.main", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = None
    seen = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if marker in line:
                url = line.split(marker, 1)[1].strip().split()[-1]
                break
        if url is None:
            raise AssertionError("the server did not start:\n" + "".join(seen[-40:]))
        yield proc, url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def launch(playwright: Any, tmp: Path) -> Any:
    return playwright.chromium.launch_persistent_context(str(tmp / "profile"), executable_path=CHROMIUM,
                                                         headless=True, args=CHROMIUM_ARGS,
                                                         viewport={"width": 1280, "height": 900})


def open_view(context: Any, url: str) -> Any:
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(url)
    page.wait_for_selector("body[data-ready='true']")
    return page


def act(page: Any, action: str, confirm: bool = False, **args: Any) -> int:
    """Pick ``action`` in the page's form, fill it, press Run (and confirm); wait until its step is drawn."""
    page.select_option("#action-select", action)
    for name, value in args.items():
        field = page.locator(f"#param-{name}")
        tag = field.evaluate("e => e.tagName")
        if tag == "SELECT":
            field.select_option(str(value))
        elif field.get_attribute("type") == "checkbox":
            field.set_checked(bool(value))
        else:
            field.fill(str(value))
    page.evaluate("document.getElementById('action-result').removeAttribute('data-step')")
    page.click("#run-action")
    if confirm:
        page.wait_for_selector("#confirm[open]")
        page.click("#confirm-yes")
    page.wait_for_selector("#action-result[data-step]")
    step = int(page.get_attribute("#action-result", "data-step"))
    page.wait_for_function("n => Number(document.body.dataset.step) >= n", arg=step)
    return step


OVERLAPS_JS = """
() => {
  const sel = 'h1, h2, h3, dt, dd, .badge, .pill, .dc-name, .event-id, .event-text, .what, label, button, .range, '
            + '#history li, .narration, th, td';
  const visible = (el) => {
    let r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) return null;
    let box = {l: r.left, t: r.top, r: r.right, b: r.bottom};
    for (let p = el.parentElement; p; p = p.parentElement) {
      const s = getComputedStyle(p);
      if (s.display === 'none' || p.hidden) return null;
      if (s.overflowX !== 'visible' || s.overflowY !== 'visible') {
        const q = p.getBoundingClientRect();
        box = {l: Math.max(box.l, q.left), t: Math.max(box.t, q.top), r: Math.min(box.r, q.right), b: Math.min(box.b, q.bottom)};
        if (box.r <= box.l || box.b <= box.t) return null;
      }
    }
    return box;
  };
  const items = [...document.querySelectorAll(sel)].map(el => ({el, box: visible(el)})).filter(x => x.box);
  const out = [];
  for (let i = 0; i < items.length; i++) {
    for (let j = i + 1; j < items.length; j++) {
      const a = items[i], b = items[j];
      if (a.el.contains(b.el) || b.el.contains(a.el)) continue;
      const w = Math.min(a.box.r, b.box.r) - Math.max(a.box.l, b.box.l);
      const h = Math.min(a.box.b, b.box.b) - Math.max(a.box.t, b.box.t);
      if (w > 1 && h > 1) out.push([a.el.outerHTML.slice(0, 80), b.el.outerHTML.slice(0, 80)]);
    }
  }
  const clipped = [...document.querySelectorAll('dd, .badge, .dc-name, h3, .pill')]
    .filter(el => el.offsetParent !== null && el.scrollWidth > el.clientWidth + 1).map(el => el.outerHTML.slice(0, 80));
  return {overlaps: out.slice(0, 20), clipped, width: document.documentElement.scrollWidth, viewport: innerWidth};
}
"""


def layout_problems(page: Any, width: int, shot: Path) -> dict[str, Any]:
    """Resize to ``width``, take a full-page screenshot, and report overlapping or clipped labels."""
    page.set_viewport_size({"width": width, "height": 1000})
    page.wait_for_function("w => innerWidth === w", arg=width)
    page.screenshot(path=str(shot), full_page=True)
    return page.evaluate(OVERLAPS_JS)
