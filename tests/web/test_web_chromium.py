"""The classroom view in headless Chromium: `dcemu lab up --web`, the worked USN rollback clicked through.

A 2008 R2 DC (DC02) reverted to a checkpoint after its changes reached DC01: the page must show
event 2095, the quarantine (Dsa Not Writable = 4, R-USN-11) and the USNs DC01's vector claims
but DC02 no longer holds (R-USN-01, R-REPL-52).  The same on a 2012 R2 DC (DC03): a new
invocationID, the old one retired, no quarantine and no rollback (R-GENID-20, R-SAFE-01).
Then the session, saved as a scenario result, replays in `dcemu report --serve`.
Screenshots at 1280 and 1920 px are checked for overlapping or clipped labels.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from web_helpers import TOPOLOGY, act, launch, layout_problems, need_browser, open_view, served

from dcemu.runtime.live import free_port_base

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    sync_playwright = need_browser()
    tmp = tmp_path_factory.mktemp("chromium")
    with sync_playwright() as p:
        context = launch(p, tmp)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory, browser):
    tmp = tmp_path_factory.mktemp("web-live")
    (tmp / "topo.toml").write_text(TOPOLOGY)
    base = free_port_base(["127.0.0.11", "127.0.0.12", "127.0.0.13"])
    # A slow clock: change notification never fires during the test, so every cycle is one a click ran.
    args = ["lab", "up", "--dir", str(tmp / "lab"), "--topology", str(tmp / "topo.toml"), "--port-base", str(base),
            "--no-tls", "--time-scale", "0.001", "--web-bind", "127.0.0.1:0"]
    with served(args, "Classroom view:", tmp) as (_proc, url):
        page = open_view(browser, url)
        yield page, url, tmp


def lane(page, dc):
    return page.locator(f".lane[data-dc='{dc}']")


def test_usn_rollback_on_2008r2_lights_up_2095_quarantine_and_the_claimed_range(live):
    """R-USN-01 / R-REPL-52 / R-USN-11: checkpoint, writes, replicate, apply, write, replicate on 2008 R2."""
    page, _, _ = live
    assert page.locator(".lane").count() == 3
    assert "2008R2" in lane(page, "DC02").locator(".os").inner_text()
    act(page, "checkpoint", vm="DC02", name="before")
    act(page, "create_users", dc="DC02", count=4, prefix="lost")
    step = act(page, "replicate", dest="DC01", source="DC02")
    assert page.locator(f"#narration[data-step='{step}']").inner_text().startswith("DC01 pulled changes from DC02")
    assert int(page.get_attribute(".arrow[data-source='DC02'][data-dest='DC01']", "data-sent")) >= 4
    usn_before = int(lane(page, "DC02").get_attribute("data-usn"))
    inv_before = lane(page, "DC02").get_attribute("data-invocation-id")

    act(page, "restore_checkpoint", confirm=True, vm="DC02", name="before")
    assert int(lane(page, "DC02").get_attribute("data-usn")) < usn_before
    assert lane(page, "DC02").get_attribute("data-invocation-id") == inv_before      # 2008 R2: no safeguards
    act(page, "create_users", dc="DC02", count=2, prefix="new")
    act(page, "replicate", dest="DC01", source="DC02")

    events = page.locator("#step-events li[data-dc='DC02'][data-id='2095']")
    assert events.count() == 1
    assert "USN" in events.inner_text() or "already-acknowledged" in events.inner_text()
    assert lane(page, "DC02").locator("li[data-id='2095']").count() == 1
    assert lane(page, "DC02").get_attribute("data-quarantined") == "true"
    assert lane(page, "DC02").locator(".badge.quarantined").count() == 1
    arrow = page.locator(".arrow[data-source='DC02'][data-dest='DC01']")
    assert arrow.get_attribute("data-result") == "8456" and "failed" in arrow.get_attribute("class")
    rollback = page.locator("#rollback-list .rollback[data-dc='DC02']")
    assert rollback.count() == 1 and page.locator("#rollbacks").is_visible()
    low, high = int(rollback.get_attribute("data-from")), int(rollback.get_attribute("data-to"))
    # DC01 holds DC02's lost writes up to the USN it replicated; DC02 reused the USNs after the revert.
    assert low <= usn_before - 3 and high == usn_before
    assert f"USNs {low}-{high}" in rollback.inner_text()
    assert lane(page, "DC02").locator(".badge.rollback").count() == 1
    page.wait_for_selector(".dup-sid")       # the reused RIDs: the same SIDs on two objects
    result = page.locator("#action-result")
    assert "2095" in result.inner_text()     # the action's own answer lists its Windows events


def test_the_same_on_2012r2_takes_a_new_invocation_id_and_no_quarantine(live):
    """R-GENID-20 / R-SAFE-01: applying a checkpoint to a 2012 R2 DC retires its invocationID."""
    page, _, _ = live
    act(page, "checkpoint", vm="DC03", name="before")
    act(page, "create_users", dc="DC03", count=4, prefix="late")
    act(page, "replicate", dest="DC01", source="DC03")
    inv_before = lane(page, "DC03").get_attribute("data-invocation-id")
    act(page, "restore_checkpoint", confirm=True, vm="DC03", name="before")
    act(page, "create_users", dc="DC03", count=2, prefix="after")
    act(page, "replicate", dest="DC01", source="DC03")
    inv_after = lane(page, "DC03").get_attribute("data-invocation-id")
    assert inv_after and inv_after != inv_before
    assert inv_before[:8] in lane(page, "DC03").locator("dd.retired").inner_text()
    assert lane(page, "DC03").get_attribute("data-quarantined") == "false"
    assert lane(page, "DC03").locator(".badge.quarantined").count() == 0
    assert page.locator("#rollback-list .rollback[data-dc='DC03']").count() == 0
    arrow = page.locator(".arrow[data-source='DC03'][data-dest='DC01']")
    assert arrow.get_attribute("data-result") == "0" and int(arrow.get_attribute("data-sent")) >= 2
    assert page.locator("#history li").count() >= 13


def test_a_destructive_action_cancelled_does_nothing(live):
    page, url, _ = live
    before = page.evaluate("document.body.dataset.count")
    page.select_option("#action-select", "stop")
    page.select_option("#param-vm", "DC01")
    page.click("#run-action")
    page.wait_for_selector("#confirm[open]")
    page.click("#confirm-no")
    page.wait_for_selector("#confirm:not([open])", state="attached")
    assert page.evaluate("document.body.dataset.count") == before
    assert lane(page, "DC01").locator(".badge.mode").inner_text() == "normal"
    # The server refuses it too without "confirm": true (a script cannot skip the question).
    request = urllib.request.Request(url.rstrip("/") + "/api/act", method="POST",
                                     data=json.dumps({"action": "stop", "args": {"vm": "DC01"}}).encode(),
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)
    assert refused.value.code == 409 and json.loads(refused.value.read())["confirm"] is True
    assert page.evaluate("document.body.dataset.count") == before


@pytest.mark.parametrize("width", [1280, 1920])
def test_layout_has_no_overlapping_labels(live, width):
    page, _, tmp = live
    report = layout_problems(page, width, tmp / f"live-{width}.png")
    assert report["overlaps"] == [] and report["clipped"] == []
    assert report["width"] <= report["viewport"]          # nothing pushes the page sideways
    assert (tmp / f"live-{width}.png").stat().st_size > 10_000
    _keep(tmp / f"live-{width}.png")


def test_the_session_replays_in_report_serve(live, browser):
    """The live session saved as a scenario result: `dcemu report --html` renders it, `--serve` replays it."""
    page, url, tmp = live
    with urllib.request.urlopen(url.rstrip("/") + "/api/result", timeout=60) as r:
        doc = json.loads(r.read())
    saved = tmp / "session.json"
    saved.write_text(json.dumps(doc))
    from dcemu.training import result as results
    from dcemu.training.report import render_report
    assert "2095" in render_report(results.load(saved))
    with served(["report", str(saved), "--serve", "--web-bind", "127.0.0.1:0"], "classroom view:", tmp) as (_, rurl):
        replay = browser.new_page()
        try:
            replay.goto(rurl)
            replay.wait_for_selector("body[data-ready='true']")
            assert replay.locator("#mode").inner_text() == "REPLAY" and replay.locator("#actions").is_hidden()
            replay.click("#replay-decisive")
            replay.wait_for_selector("#step-events li[data-id='2095']")
            decisive = int(replay.evaluate("document.body.dataset.step"))
            assert replay.locator("#rollback-list .rollback[data-dc='DC02']").count() == 1
            replay.click("#replay-back")
            replay.wait_for_function("n => Number(document.body.dataset.step) === n", arg=decisive - 1)
            assert replay.locator("#step-events li[data-id='2095']").count() == 0
            replay.click("#replay-forward")
            replay.wait_for_function("n => Number(document.body.dataset.step) === n", arg=decisive)
            replay.click("#replay-last")
            replay.wait_for_function("n => Number(document.body.dataset.step) === n", arg=len(doc["steps"]) - 1)
            replay.wait_for_selector(".dup-sid")
            shot = tmp / "replay-1280.png"
            report = layout_problems(replay, 1280, shot)
            assert report["overlaps"] == [] and report["clipped"] == []
            _keep(shot)
        finally:
            replay.close()


def _keep(path: Path) -> None:
    """Copy a screenshot where a person can look at it (DCEMU_WEB_SHOTS, when set)."""
    import os
    import shutil
    target = os.environ.get("DCEMU_WEB_SHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)
