"""The dcemu_sweep pytest marker: built-in and user invariants over random schedules."""

from __future__ import annotations

import pytest


def no_dc_in_dsrm(lab, history):
    """A user's own property: every DC VM that runs is a working DC (not in DSRM)."""
    return [f"{name} is in DSRM" for name, guest in lab.guests.items() if guest.dc is None]


def always_broken(lab, history):
    return [f"{len(history.issued)} principals created"]


@pytest.mark.dcemu_sweep(seeds=range(3), invariants=["no-duplicate-sids", "converged", no_dc_in_dsrm],
                         templates=["3dc-2012r2"], steps=6)
def test_marker_runs_builtin_and_user_invariants_R_RID_10(dcemu_sweep):
    assert [r.seed for r in dcemu_sweep.results] == [0, 1, 2]
    dcemu_sweep.assert_ok()


@pytest.mark.dcemu_sweep(seeds=[5], invariants=[always_broken], templates=["3dc-2012r2"], steps=4)
def test_a_user_invariant_s_violation_fails_with_its_seed(dcemu_sweep):
    with pytest.raises(AssertionError, match="seed 5: always_broken"):
        dcemu_sweep.assert_ok()
