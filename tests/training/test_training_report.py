"""The HTML report: self-contained, one section per step with its state, the final divergence, and small."""

from __future__ import annotations

import copy
import re

from training_helpers import parse_dom

from dcemu.training import result as R
from dcemu.training.analysis import analyse
from dcemu.training.narrate import narrate
from dcemu.training.report import render_report
from dcemu.training.synthetic import synthetic_result

MAX_BYTES = 2 * 1024 * 1024


def test_report_needs_no_network(rollback):
    html = render_report(R.parse(rollback))
    assert "<script" not in html and "<link" not in html and "<img" not in html and "@import" not in html
    assert not re.search(r"\b(src|href)\s*=", html) and "url(" not in html
    assert set(re.findall(r"https?://[^\s\"'<>]+", html)) == {"http://www.w3.org/2000/svg"}  # a namespace name


def test_every_step_has_its_narration_and_state(rollback):
    doc = R.parse(rollback)
    dom = parse_dom(render_report(doc))
    facts = analyse(doc)
    steps = dom.find("article", "step")
    assert [a.attrs["data-step"] for a in steps] == [str(s.index) for s in doc.steps]
    for article, step in zip(steps, doc.steps, strict=True):
        (para,) = article.find("p", "narration")
        assert para.all_text() == narrate(doc, facts, step)
        usn_cells = {c.attrs["data-dc"]: c.all_text() for c in article.find("td", field="usn")}
        assert usn_cells == {dc: str(st.usn) if st.usn is not None else "" for dc, st in step.state.items()}


def test_alerts_and_changes_are_marked(rollback):
    dom = parse_dom(render_report(R.parse(rollback)))
    step = {a.attrs["data-step"]: a for a in dom.find("article", "step")}
    (usn4,) = step["4"].find("td", field="usn", dc="DC01")
    assert "alert" in usn4.classes                                          # R-REPL-50: the USN went down
    (quarantine,) = step["6"].find("td", field="quarantined", dc="DC01")
    assert "alert" in quarantine.classes and quarantine.all_text() == "yes"  # R-USN-11
    (usn2,) = step["2"].find("td", field="usn", dc="DC01")
    assert "changed" in usn2.classes and usn2.all_text() == "102"
    (usn2_dc3,) = step["2"].find("td", field="usn", dc="DC03")
    assert not usn2_dc3.classes
    # R-REPL-61: DC02's cursor for DC01 (102) is above DC01's USN (100) after the revert
    ahead = [td for td in step["4"].find("td", "alert") if td.attrs.get("data-usn") == "102"]
    assert ahead


def test_replication_and_writes_tables_carry_the_values(rollback):
    dom = parse_dom(render_report(R.parse(rollback)))
    step = {a.attrs["data-step"]: a for a in dom.find("article", "step")}
    (sent,) = step["3"].find("td", sent="2")
    assert sent.all_text() == "2"
    assert step["3"].find("td", filtered="1")
    (failed,) = step["6"].find("td", result="8456")
    assert failed.all_text() == "failed 8456"
    assert [td.all_text() for td in step["2"].find("td", usn="101")] == ["101"]
    assert any(td.all_text() == "2095" for td in step["6"].find("td", id="2095"))


def test_final_divergence_and_duplicate_sids(rollback):
    dom = parse_dom(render_report(R.parse(rollback)))
    (table,) = dom.find("table", "divergence")
    rows = {tr.find("td")[0].all_text().split(",")[0]: [td.all_text() for td in tr.find("td")[2:]]
            for tr in table.find("tr")[1:]}
    assert rows == {"CN=alice": ["— absent —", "present", "— absent —"],
                    "CN=dave": ["present", "— absent —", "— absent —"]}
    (sids,) = dom.find("table", "duplicate-sids")
    assert "S-1-5-21-1-2-3-1105" in sids.all_text() and "CN=alice" in sids.all_text()
    assert "Quarantined: DC01." in dom.find("p", "quarantined")[0].all_text()


def test_no_divergence_says_so(rollback):
    rollback["final"]["divergence"] = []
    dom = parse_dom(render_report(R.parse(rollback)))
    assert not dom.find("table", "divergence") and dom.find("p", "divergence-none")


def test_comparison_puts_the_runs_side_by_side(rollback):
    other = copy.deepcopy(rollback)
    other["label"] = "Windows Server 2012 R2"
    dom = parse_dom(render_report(R.Comparison((R.parse(rollback), R.parse(other)), "both")))
    for article in dom.find("article", "step"):
        assert [c.attrs.get("data-label") for c in article.find("div", "run-col")] == \
            ["A hand-made rollback", "Windows Server 2012 R2"]
    assert len(dom.find("g", "run")) == 2


def test_hostile_text_is_escaped(rollback):
    rollback["steps"][2]["writes"][0]["dn"] = "CN=<script>x</script>,DC=corp"
    rollback["scenario"]["title"] = "<b>bold</b>"
    html = render_report(R.parse(rollback))
    assert "<script>" not in html and "<b>bold</b>" not in html and "&lt;script&gt;" in html


def test_report_of_a_3_dc_50_step_run_stays_under_2_mb():
    run = synthetic_result(dcs=3, steps=50)
    html = render_report(run)
    assert len(html.encode("utf-8")) < MAX_BYTES
    dom = parse_dom(html)
    assert len(dom.find("article", "step")) == 50
    assert len(dom.find("g", "lane")) == 3
    assert synthetic_result(dcs=3, steps=50) == run      # the generator is deterministic
