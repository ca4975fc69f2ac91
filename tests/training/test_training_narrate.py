"""What the views point at is derived from the data, and so is every sentence of the narration."""

from __future__ import annotations

from training_helpers import A2, A

from dcemu.training import result as R
from dcemu.training.analysis import analyse
from dcemu.training.narrate import narrate


def _narrations(d: dict) -> list[str]:
    run = R.parse(d)
    facts = analyse(run)
    return [narrate(run, facts, s) for s in run.steps]


def test_r_repl_50_usn_that_goes_down_under_the_same_invocation_id_is_a_rollback(rollback):
    facts = analyse(R.parse(rollback))
    (drop,) = facts.drops[4]
    assert (drop.dc, drop.before, drop.after, drop.same_invocation_id) == ("DC01", 102, 100, True)
    text = _narrations(rollback)[4]
    assert "went back from 102 to 100" in text and "a USN rollback" in text


def test_a_restore_with_a_new_invocation_id_is_not_called_a_rollback(rollback):
    for step in rollback["steps"][4:]:
        step["state"]["DC01"]["invocation_id"] = A2
    for w in rollback["steps"][5]["writes"]:
        w["invocation_id"] = A2
    facts = analyse(R.parse(rollback))
    assert facts.drops[4][0].same_invocation_id is False
    assert facts.reuses == {}
    assert "under a new invocationID aaaaaaaa" in _narrations(rollback)[4]


def test_r_repl_51_a_reused_stamp_marks_the_divergence(rollback):
    facts = analyse(R.parse(rollback))
    assert facts.first_divergence == 5
    (reuse,) = facts.reuses[5]
    assert (reuse.write.dn.split(",")[0], reuse.earlier.dn.split(",")[0], reuse.earlier_step) == \
        ("CN=dave", "CN=alice", 2)
    text = _narrations(rollback)[5]
    assert "USN 101 of invocationID aaaaaaaa now stamps CN=dave" in text and "in step 2" in text


def test_r_repl_61_partner_cursor_above_the_dcs_usn_is_an_open_bubble(rollback):
    facts = analyse(R.parse(rollback))
    assert [(b.dc, b.partner, b.partner_usn, b.dc_usn) for b in facts.bubbles[4]] == [("DC01", "DC02", 102, 100)]
    assert 3 not in facts.bubbles
    assert "DC02 still holds DC01's invocationID aaaaaaaa at USN 102, above DC01's own USN 100" in \
        _narrations(rollback)[4]


def test_r_repl_53_bubble_closed_before_any_pull_is_said_to_be_undetected(rollback):
    step = rollback["steps"][5]
    step["writes"] = [dict(step["writes"][0], usn=u, guid=f"g{u}", dn=f"CN=u{u}") for u in (101, 102, 103)]
    step["state"]["DC01"]["usn"] = 103
    text = _narrations(rollback)[5]
    assert "DC01's USN (103) has passed DC02's cursor (102) before any partner pulled" in text


def test_replication_sentence_counts_what_was_sent_and_filtered(rollback):
    text = _narrations(rollback)[3]
    assert "DC02 <- DC01: 2 changes sent (USNs 101-102, originated by DC01)" in text
    assert "1 filtered (already covered by the up-to-dateness vector): USN 250" in text


def test_r_repl_52_detection_sentence_comes_from_the_event_and_the_state(rollback):
    text = _narrations(rollback)[6]
    assert "failed with 8456" in text and "event 2095" in text and "DC01 is now quarantined" in text
    rollback["steps"][6]["events"] = []
    rollback["steps"][6]["state"]["DC01"]["quarantined"] = False
    rollback["steps"][6]["replications"][0]["result"] = 8457
    text = _narrations(rollback)[6]
    assert "2095" not in text and "quarantined" not in text and "failed with 8457" in text


def test_numbers_in_the_narration_follow_the_data(rollback):
    before = _narrations(rollback)
    rollback["steps"][4]["state"]["DC01"]["usn"] = 97
    rollback["steps"][2]["writes"][1]["sid"] = "S-1-5-21-1-2-3-1999"
    after = _narrations(rollback)
    assert "went back from 102 to 97" in after[4] and "102 to 100" not in after[4]
    assert "RIDs 1105, 1999" in after[2] and "RIDs 1105, 1106" in before[2]


def test_generation_id_change_on_a_dc_that_does_not_track_it(rollback):
    text = _narrations(rollback)[4]
    assert "VM-Generation ID changed from 11111111 to 22222222" in text
    assert "keeps no msDS-GenerationId" in text
    for step in rollback["steps"]:
        step["state"]["DC01"]["generation_id_stored"] = "1111111111111111"
    assert "keeps no msDS-GenerationId" not in _narrations(rollback)[4]


def test_an_action_nobody_registered_is_described_from_its_arguments(rollback):
    rollback["steps"][1]["action"] = "seize_role"
    rollback["steps"][1]["args"] = {"role": "rid", "to": "DC02"}
    assert _narrations(rollback)[1].startswith("Step 'seize_role' (role=rid, to=DC02) ran")
    assert A[:8] in _narrations(rollback)[2]
