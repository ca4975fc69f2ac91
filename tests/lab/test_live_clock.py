"""A live lab's clock: the host's wall clock by default, the virtual clock on request, never backwards.

Issue 15 point 4 (NTLM's MsvAvTimestamp and rootDSE currentTime follow the clock clients compare with) and
issue 22 point 6 (on restart the clock resumes at no earlier than the newest stamp in any DIT or event log).
The host's clock is injected (``wall_source``) so the tests do not depend on today's date.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import ldap3
import pytest
from ldap3.utils.ntlm import NtlmClient

from dcemu.clock import DEFAULT_START, from_generalized_time, to_generalized_time
from dcemu.errors import DcemuError
from dcemu.lab.lab import Lab
from dcemu.lab.scenario import find_scenario, prepare_lab
from dcemu.lab.timefloor import time_floor
from dcemu.lab.topology import parse_topology
from dcemu.runtime.live import LiveLabThread, LiveOptions, free_port_base

BASE = "DC=corp,DC=example,DC=com"
TWO_DCS = find_scenario("safe-revert-2012").topology
ADDRESSES = ["127.0.0.11", "127.0.0.12"]
HOST_NOW = DEFAULT_START + _dt.timedelta(days=61, hours=3, seconds=26, microseconds=5)   # a lab kept off 2 months


@pytest.fixture
def two_dc_dir(tmp_path: Path, dcemu_lab_cache: Path) -> Path:
    target = tmp_path / "lab"
    prepare_lab(TWO_DCS, target, cache_dir=dcemu_lab_cache)
    return target


def _wall(host: dict) -> LiveOptions:
    return LiveOptions(port_base=free_port_base(ADDRESSES), tick_interval=None, tls=False, wall_clock=True,
                       wall_source=lambda: host["now"], time_source=lambda: 0.0)


def _current_time(url: str) -> _dt.datetime:
    conn = ldap3.Connection(ldap3.Server(url, get_info=ldap3.NONE), auto_bind=True)
    conn.search("", "(objectClass=*)", ldap3.BASE, attributes=["currentTime"])
    return from_generalized_time(conn.response[0]["raw_attributes"]["currentTime"][0].decode())


def _challenge_timestamp(url: str, monkeypatch: pytest.MonkeyPatch) -> _dt.datetime:
    """The MsvAvTimestamp (MS-NLMP 2.2.2.1) of the CHALLENGE the DC sent ldap3 in a real NTLM bind."""
    seen: dict = {}
    original = NtlmClient.parse_challenge_message

    def spy(self: NtlmClient, message: bytes) -> object:
        result = original(self, message)
        seen["ts"] = self.server_av_timestamp
        return result
    monkeypatch.setattr(NtlmClient, "parse_challenge_message", spy)
    conn = ldap3.Connection(ldap3.Server(url, get_info=ldap3.NONE), user="CORP\\Administrator",
                            password="Passw0rd!", authentication=ldap3.NTLM)
    assert conn.bind(), conn.result
    conn.unbind()
    return seen["ts"].astimezone(_dt.UTC)      # ldap3 decodes the FILETIME into an aware datetime


def test_a_new_live_lab_is_built_on_the_hosts_wall_clock_and_follows_it(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15.4: virtual_start = now, time scale 1; currentTime and NTLM's timestamp are the host's time."""
    one = parse_topology('seed = 5\n[[hosts]]\nname = "HV01"\n[[dcs]]\nname = "DC01"\nhost = "HV01"\n'
                         'ip = "127.0.0.11"\n')
    host = {"now": HOST_NOW}
    options = _wall(host)
    options.topology = one
    with LiveLabThread(tmp_path / "new", options) as served:
        status = served.call(served.live.status)
        assert status["clock"] == {"mode": "wall", "virtual_start": HOST_NOW.replace(microsecond=0).isoformat(),
                                   "time_scale": 1.0}
        url = status["dcs"][0]["ldap_url"]
        admin = served.call(lambda: served.live.lab.dc("DC01").directory.find(f"CN=Administrator,CN=Users,{BASE}"))
        assert from_generalized_time(str(admin.first("whenCreated"))) == HOST_NOW.replace(microsecond=0)
        host["now"] = HOST_NOW + _dt.timedelta(minutes=7)
        served.tick()
        assert _current_time(url) == host["now"].replace(microsecond=0)
        assert abs(_challenge_timestamp(url, monkeypatch) - host["now"]) < _dt.timedelta(seconds=1)


def test_an_existing_lab_behind_the_host_jumps_forward_and_one_ahead_never_rewinds(two_dc_dir: Path) -> None:
    """Issue 15.4: a lab built at the fixed DEFAULT_START meets the host's time; a lab ahead keeps its own."""
    host = {"now": HOST_NOW}
    with LiveLabThread(two_dc_dir, _wall(host)) as served:
        assert served.call(lambda: served.live.lab.clock.now()) == HOST_NOW
        served.advance(3600)                                # an hour ahead of the host (LiveLab.advance)
        ahead = served.call(lambda: served.live.lab.clock.now())
        assert ahead == HOST_NOW + _dt.timedelta(hours=1)
    host["now"] = HOST_NOW + _dt.timedelta(minutes=10)     # the host is now behind the lab
    with LiveLabThread(two_dc_dir, _wall(host)) as served:
        resumed = served.call(lambda: served.live.lab.clock.now())
        assert resumed == ahead.replace(microsecond=0)
        host["now"] += _dt.timedelta(minutes=5)
        served.tick()                                       # follows the host's time, which is still behind
        assert served.call(lambda: served.live.lab.clock.now()) == resumed


def test_a_lab_further_behind_than_the_catch_up_limit_keeps_its_own_clock(two_dc_dir: Path) -> None:
    """A 300-day jump would pass the tombstone lifetime (R-REPL-64, event 2042): the lab keeps its clock, says why."""
    host = {"now": DEFAULT_START + _dt.timedelta(days=300)}
    with LiveLabThread(two_dc_dir, _wall(host)) as served:
        clock = served.call(served.live.status)["clock"]
        assert clock["mode"] == "virtual" and "tombstone lifetime" in clock["note"]
        assert served.call(lambda: served.live.lab.clock.now()) < DEFAULT_START + _dt.timedelta(days=1)


def test_the_virtual_clock_stays_deterministic_and_start_never_rewinds(two_dc_dir: Path) -> None:
    """--time-scale / --start keep the virtual clock; --start before the lab's clock is refused."""
    ticks = {"now": 500.0}
    options = LiveOptions(port_base=free_port_base(ADDRESSES), tick_interval=None, tls=False, time_scale=10.0,
                          start=DEFAULT_START + _dt.timedelta(days=2), time_source=lambda: ticks["now"])
    with LiveLabThread(two_dc_dir, options) as served:
        assert served.call(served.live.status)["clock"]["mode"] == "virtual"
        ticks["now"] += 6
        served.tick()
        assert served.call(lambda: served.live.lab.clock.now()) == DEFAULT_START + _dt.timedelta(days=2, seconds=60)
    early = LiveOptions(port_base=free_port_base(ADDRESSES), tick_interval=None, tls=False, start=DEFAULT_START)
    with pytest.raises(DcemuError, match="never runs backwards"):
        LiveLabThread(two_dc_dir, early)


def test_after_a_crash_the_clock_resumes_at_the_newest_stamp_not_the_saved_clock(two_dc_dir: Path) -> None:
    """Issue 22.6: lab.json's clock (saved every 30 s) is older than acknowledged writes after a kill -9.

    Simulated exactly: a write 25 minutes after the saved clock, then lab.json put back to the saved
    clock (what a kill before the next save leaves).  The reopened lab resumes at the write's time, and
    the next object's whenCreated is not older than the acknowledged one.
    """
    lab = Lab.open(two_dc_dir)
    saved = lab.state.clock
    lab.clock.advance(25 * 60)
    dc = lab.dc("DC01")
    from dcemu.dsa import ops
    ops.add(dc.directory, f"CN=before-kill,CN=Users,{BASE}", {"objectClass": ["user"],
                                                              "sAMAccountName": ["before-kill"]})
    acked = from_generalized_time(str(dc.directory.find(f"CN=before-kill,CN=Users,{BASE}").first("whenCreated")))
    lab.close()
    raw = json.loads((two_dc_dir / "lab.json").read_text())
    raw["clock"] = saved
    (two_dc_dir / "lab.json").write_text(json.dumps(raw))
    assert from_generalized_time(saved) < acked and time_floor(two_dc_dir) >= acked

    again = Lab.open(two_dc_dir)
    try:
        assert again.clock.now() >= acked
        d = again.dc("DC01").directory
        ops.add(d, f"CN=after-kill,CN=Users,{BASE}", {"objectClass": ["user"], "sAMAccountName": ["after-kill"]})
        assert from_generalized_time(str(d.find(f"CN=after-kill,CN=Users,{BASE}").first("whenCreated"))) >= acked
    finally:
        again.close()


def test_the_floor_reads_event_logs_too(two_dc_dir: Path) -> None:
    """Issue 22.6: an event logged after the last save counts as much as a DIT stamp."""
    log = next((two_dc_dir / "hosts").rglob("*.events.jsonl"))
    late = DEFAULT_START + _dt.timedelta(days=40)
    record = json.loads(log.read_text().splitlines()[-1])
    record.update(record_id=record["record_id"] + 1, time=late.strftime("%Y-%m-%dT%H:%M:%SZ"))
    with log.open("a") as fh:
        fh.write(json.dumps(record) + "\n")
    assert time_floor(two_dc_dir) == late
    lab = Lab.open(two_dc_dir)
    try:
        assert lab.clock.now() == late and lab.state.clock == to_generalized_time(late)
    finally:
        lab.close()
