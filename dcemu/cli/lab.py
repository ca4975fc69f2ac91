"""``dcemu lab``: create a lab, serve it live over LDAP, show its status, stop it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .common import dumps, emit, group, json_option, lab_dir_option, progress_for, table

lab = group("lab", "Create, serve (LDAP/LDAPS), inspect and stop a lab directory.")


@lab.command("init")
@lab_dir_option
@click.option("--topology", "topology_file", type=click.Path(dir_okay=False, path_type=Path),
              help="A topology TOML file (default: the built-in topology; see 'dcemu lab topology').")
@click.option("--seed", type=int, help="Override the topology's seed.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), envvar="DCEMU_CACHE_DIR",
              help="Copy a lab built before from the same topology and seed from here (and keep new builds) "
                   "[env: DCEMU_CACHE_DIR].")
@json_option
def init(lab_dir: Path, topology_file: Path | None, seed: int | None, cache_dir: Path | None, as_json: bool) -> None:
    """Create a lab in --dir from a topology (two 2012 R2 hosts and three DCs by default)."""
    from dataclasses import replace

    from ..lab.control import init_lab
    from ..lab.topology import default_topology, load_topology
    from ..runtime.live import require_not_running
    require_not_running(lab_dir)
    topo = load_topology(topology_file) if topology_file else default_topology()
    if seed is not None:
        topo = replace(topo, seed=seed)
    with progress_for(as_json) as progress:
        result = init_lab(lab_dir, topo, progress=progress, cache_dir=cache_dir)
    emit(result, as_json, _render_summary)


@lab.command("topology")
@click.option("--check", "check_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Validate this topology file instead of printing the default one.")
@json_option
def topology(check_file: Path | None, as_json: bool) -> None:
    """Print the default topology (TOML), or validate a topology file with --check."""
    from ..lab.topology import DEFAULT_TOPOLOGY, default_topology, load_topology
    if check_file is not None:
        topo = load_topology(check_file)
        emit(topo.to_dict(), as_json, lambda d: f"{check_file}: OK ({len(topo.hosts)} hosts, {len(topo.dcs)} DCs)")
        return
    if as_json:
        click.echo(dumps(default_topology().to_dict()))
    else:
        click.echo(DEFAULT_TOPOLOGY, nl=False)


@lab.command("up")
@lab_dir_option
@click.option("--admin-password", help="Administrator's password (for a new lab; resets it on an existing one).")
@click.option("--topology", "topology_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Topology for a new lab (default: the built-in one).")
@click.option("--address-base", help="Serve the DCs on consecutive addresses from this one "
                                     "(default: each DC's loopback IP, else 127.0.0.11, .12, ...).")
@click.option("--port-base", type=click.IntRange(0, 65535 - 3269), envvar="DCEMU_PORT_BASE",
              help="Listen on N+P for each well-known port P: N+389 (LDAP, and CLDAP on UDP), N+636 (LDAPS), "
                   "N+3268/N+3269 (Global Catalog) (default: the well-known ports when allowed, else "
                   "N=10000) [env: DCEMU_PORT_BASE].")
@click.option("--time-scale", type=float,
              help="Run the lab on its own virtual clock at this many virtual seconds per real second "
                   "(10 makes the 15 s change notification take 1.5 s). Default: the host's wall clock.")
@click.option("--start", "start", help="Run the lab on its own virtual clock from this UTC instant "
                                        "(ISO 8601, e.g. 2026-01-05T09:00:00Z; a new lab is built then, an "
                                        "existing one jumps forward to it). Default: the host's wall clock.")
@click.option("--no-tls", is_flag=True, help="Serve plain LDAP only (no LDAPS, no StartTLS).")
@click.option("--web", is_flag=True, help="Also serve the classroom view (a browser page of the DCs, live) "
                                          "on http://127.0.0.1:8023/.")
@click.option("--web-bind", metavar="ADDR[:PORT]", help="Serve the classroom view here instead (implies --web; "
                                                       "port 0 picks a free one); beyond loopback it needs the "
                                                       "token printed at start.")
def up(lab_dir: Path, admin_password: str | None, topology_file: Path | None, address_base: str | None,
       port_base: int | None, time_scale: float | None, start: str | None, no_tls: bool, web: bool,
       web_bind: str | None) -> None:
    """Serve LDAP and LDAPS on every DC until interrupted (creates the default lab in a new --dir).

    Each DC listens on its own loopback address.  The lab's clock is the host's wall clock
    (so NTLM and Kerberos timestamps agree with clients), unless --time-scale or --start puts
    it on its own virtual clock; either way a change made on one DC reaches the others after
    the change-notification delay.  The clock never runs backwards.  Ctrl+C or
    SIGTERM ('dcemu lab down') closes the listeners and saves the lab.
    """
    from ..lab.topology import load_topology
    from ..runtime.live import LiveOptions, run_live
    from ..runtime.web import WebOptions, parse_bind
    if web_bind:
        parse_bind(web_bind)
    if time_scale is not None and not (0 < time_scale < float("inf")):
        raise click.BadParameter("must be a positive finite number", param_hint="--time-scale")
    start_at = _parse_start(start) if start is not None else None
    options = LiveOptions(admin_password=admin_password, address_base=address_base, port_base=port_base,
                          tls=not no_tls, time_scale=time_scale if time_scale is not None else 1.0,
                          wall_clock=time_scale is None and start_at is None, start=start_at,
                          topology=load_topology(topology_file) if topology_file else None,
                          web=WebOptions(bind=web_bind) if web or web_bind else None)
    run_live(lab_dir, options, progress=_Notes(), on_ready=lambda live: _announce(live, lab_dir))
    click.echo("lab saved; listeners closed.")


def _parse_start(text: str) -> Any:
    """``--start``: an ISO 8601 instant; a naive one is taken as UTC."""
    import datetime as _dt
    try:
        when = _dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 date/time (e.g. 2026-01-05T09:00:00Z)",
                                 param_hint="--start") from None
    return when.replace(tzinfo=_dt.UTC) if when.tzinfo is None else when.astimezone(_dt.UTC)


class _Notes:
    """What ``lab up`` says while it builds a new lab: one line per step on stderr (no live bar while serving)."""

    def note(self, text: str) -> None:
        click.echo(f"building: {text}", err=True)


def _announce(live: Any, lab_dir: Path) -> None:
    status = live.status()
    forest, admin = status["forest"], status["admin"]
    click.echo(f"{'Created' if live.created else 'Opened'} lab {lab_dir}: {forest['dns_name']} "
               f"({forest['netbios_name']}), domain SID {forest['domain_sid']}")
    click.echo(table(status["dcs"], ["name", "ldap_url", "ldaps_url", "mode"]))
    clock = status.get("clock") or {}
    click.echo(f"Clock: {'the host' + chr(39) + 's wall clock' if clock.get('mode') == 'wall' else 'virtual'}"
               f" (from {clock.get('virtual_start')}, x{clock.get('time_scale')})")
    if clock.get("note"):
        click.echo(f"warning: {clock['note']}", err=True)
    first = status["dcs"][0] if status["dcs"] else None
    click.echo(f"\nBind as {admin['user']} (or {admin['netbios_user']}) with password {admin['password']!r}.")
    if first is not None:
        base = forest["base_dn"]
        click.echo("Examples:")
        click.echo(f"  ldapsearch -H {first['ldap_url']} -x -D '{admin['user']}' -w '{admin['password']}' "
                   f"-b '{base}' '(objectClass=user)' sAMAccountName")
        if first["ldaps_url"]:
            click.echo(f"  LDAPTLS_REQCERT=never ldapsearch -H {first['ldaps_url']} -x -D '{admin['user']}' "
                       f"-w '{admin['password']}' -b '{base}' -s base")
        click.echo(f"  python3 -c \"import ldap3; c = ldap3.Connection(ldap3.Server('{first['ldap_url']}'), "
                   f"user='{admin['user']}', password='{admin['password']}', auto_bind=True); "
                   f"c.search('{base}', '(objectClass=user)', attributes=['sAMAccountName']); print(c.entries)\"")
        netbios_user = admin["netbios_user"].replace("\\", "\\\\")
        click.echo(f"  python3 -c \"import ldap3; c = ldap3.Connection(ldap3.Server('{first['ldap_url']}'), "
                   f"user='{netbios_user}', password='{admin['password']}', authentication=ldap3.NTLM, "
                   f"auto_bind=True); print(c.extend.standard.who_am_i())\"")
    if status.get("web"):
        click.echo(f"\nClassroom view: {status['web']['url']}")
        if status["web"]["token_required"]:
            click.echo("  (the token in that URL is needed by every browser that opens the view)")
    click.echo(f"\nStatus as JSON: dcemu lab status --dir {lab_dir} --json")
    click.echo(f"Press Ctrl+C to stop (or run: dcemu lab down --dir {lab_dir}).", nl=True)


@lab.command("down")
@lab_dir_option
def down(lab_dir: Path) -> None:
    """Stop the live lab serving --dir (SIGTERM, then wait until it has saved and exited)."""
    from ..runtime.live import stop_lab
    state = stop_lab(lab_dir)
    click.echo(f"stopped pid {state.get('pid')}; lab {lab_dir} saved.")


@lab.command("status")
@lab_dir_option
@json_option
def status(lab_dir: Path, as_json: bool) -> None:
    """Show the lab: forest, Administrator credentials, and each DC's ldap:// and ldaps:// URLs when running."""
    from ..runtime.live import read_run_state
    state = read_run_state(lab_dir)
    if state is not None and not state.get("stale"):
        state.pop("stale", None)
        if state.get("starting"):
            state = {"running": True, "starting": True, "pid": state.get("pid"), "lab_dir": str(lab_dir),
                     "forest": {}, "admin": {}, "dcs": []}
        emit(state, as_json, _render_summary)
        return
    from .common import opened_lab
    with opened_lab(lab_dir) as opened:
        from ..lab.control import summary
        result = summary(opened)
    if state is not None and state.get("stale"):
        result["stale_run_state"] = {"pid": state.get("pid")}
    emit(result, as_json, _render_summary)


def _render_summary(s: dict[str, Any]) -> str:
    forest = s["forest"]
    running = f"RUNNING (pid {s.get('pid')})" if s.get("running") else "not running"
    if s.get("starting"):
        return f"lab {s.get('lab_dir')}: STARTING (pid {s.get('pid')}); ask again in a moment"
    lines = [f"lab {s.get('lab_dir')}: {running}",
             f"forest {forest.get('dns_name')} ({forest.get('netbios_name')}), domain SID {forest.get('domain_sid')}",
             f"admin {s['admin'].get('user')} / {s['admin'].get('password')}"]
    if s.get("clock") and isinstance(s["clock"], str):
        lines.append(f"clock {s['clock']}  seed {s.get('seed')}")
    if s.get("hosts"):
        lines.append("hosts: " + ", ".join(f"{h['name']} ({h['os_version']}{'' if h['genid'] else ', no GenID'})"
                                           for h in s["hosts"]))
    columns = ["name", "ldap_url", "ldaps_url", "mode"] if s.get("running") else ["name", "host", "vm_state", "mode",
                                                                                    "os_version", "ip"]
    lines.append(table(s["dcs"], columns))
    return "\n".join(lines)
