"""``dcemu dc``: one DC's users, groups, event logs, registry and state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .common import emit, group, json_option, lab_dir_option, opened_lab, plain, progress_for, table

dc = group("dc", "One DC: its state, users, groups, event logs and registry.")


@dc.command("list")
@lab_dir_option
@json_option
def list_(lab_dir: Path, as_json: bool) -> None:
    """Every DC of the lab with its VM, mode, USN, invocationId and quarantine state."""
    from ..lab.observe import dc_names, dc_state
    with opened_lab(lab_dir) as lab:
        result = [{"name": n, **dc_state(lab, n)} for n in dc_names(lab)]
    emit(result, as_json, lambda rs: table(rs, ["name", "running", "mode", "usn", "invocation_id", "quarantined"]))


@dc.command("show")
@lab_dir_option
@click.argument("name")
@json_option
def show(lab_dir: Path, name: str, as_json: bool) -> None:
    """One DC in detail: identity, GenIDs, UTD vector, high-water marks, RID pool, quarantine."""
    from ..lab.observe import dc_state
    with opened_lab(lab_dir) as lab:
        result = dc_state(lab, name)
    emit(result, as_json)


# --- users -----------------------------------------------------------------------------------------

users = group("users", "List, create and bulk-create user accounts.")
dc.add_command(users)


@users.command("list")
@lab_dir_option
@click.argument("name")
@click.option("--limit", type=int, help="Show at most this many.")
@json_option
def users_list(lab_dir: Path, name: str, limit: int | None, as_json: bool) -> None:
    """User accounts of the domain as DC NAME holds them (name, SID, USN)."""
    from ..lab.control import users as list_users
    with opened_lab(lab_dir) as lab:
        result = list_users(lab.dc(name), limit=limit)
    emit(result, as_json, lambda rs: table(rs, ["name", "sid", "usn_created", "dn"]))


@users.command("add")
@lab_dir_option
@click.argument("name")
@click.argument("user")
@click.option("--password", help="Initial password (the account is enabled when given).")
@click.option("--ou", help="Parent DN (default: CN=Users).")
def users_add(lab_dir: Path, name: str, user: str, password: str | None, ou: str | None) -> None:
    """New-ADUser USER on DC NAME (an originating write; its SID comes from NAME's RID pool)."""
    with opened_lab(lab_dir) as lab:
        dn = lab.dc(name).add_user(user, password, parent=ou)
    click.echo(dn)


@users.command("populate")
@lab_dir_option
@click.argument("name")
@click.option("--count", type=int, required=True, help="How many users to create.")
@click.option("--prefix", default="user", show_default=True, help="Account name prefix (user000000, ...).")
@click.option("--start", type=int, default=0, show_default=True, help="First number.")
@click.option("--password", help="Password for every account (slower: hashes each).")
@json_option
def users_populate(lab_dir: Path, name: str, count: int, prefix: str, start: int, password: str | None,
                   as_json: bool) -> None:
    """Create many users on DC NAME, 1,000 per transaction, with a progress bar."""
    from ..lab.control import populate
    with opened_lab(lab_dir) as lab, progress_for(as_json) as progress:
        result = populate(lab.dc(name), count, prefix=prefix, password=password, start=start, progress=progress)
    emit(result, as_json)


# --- groups ----------------------------------------------------------------------------------------

groups = group("groups", "List and create groups, change their members.")
dc.add_command(groups)


@groups.command("list")
@lab_dir_option
@click.argument("name")
@json_option
def groups_list(lab_dir: Path, name: str, as_json: bool) -> None:
    """Groups of the domain as DC NAME holds them, with their member counts."""
    from ..lab.control import groups as list_groups
    with opened_lab(lab_dir) as lab:
        result = list_groups(lab.dc(name))
    emit(result, as_json, lambda rs: table(rs, ["name", "sid", "members", "dn"]))


@groups.command("add")
@lab_dir_option
@click.argument("name")
@click.argument("group_name", metavar="GROUP")
@click.option("--scope", type=click.Choice(["global", "domainlocal", "universal"]), default="global",
              show_default=True, help="Group scope (security group).")
def groups_add(lab_dir: Path, name: str, group_name: str, scope: str) -> None:
    """New-ADGroup GROUP on DC NAME."""
    from ..lab.control import add_group
    with opened_lab(lab_dir) as lab:
        click.echo(add_group(lab.dc(name), group_name, scope=scope))


@groups.command("add-member")
@lab_dir_option
@click.argument("name")
@click.argument("group_name", metavar="GROUP")
@click.argument("member")
def groups_add_member(lab_dir: Path, name: str, group_name: str, member: str) -> None:
    """Add-ADGroupMember on DC NAME (GROUP and MEMBER by sAMAccountName or DN)."""
    from ..lab.control import set_member
    with opened_lab(lab_dir) as lab:
        result = set_member(lab.dc(name), group_name, member, present=True)
    click.echo(f"{result['member']} added to {result['group']}")


@groups.command("remove-member")
@lab_dir_option
@click.argument("name")
@click.argument("group_name", metavar="GROUP")
@click.argument("member")
def groups_remove_member(lab_dir: Path, name: str, group_name: str, member: str) -> None:
    """Remove-ADGroupMember on DC NAME."""
    from ..lab.control import set_member
    with opened_lab(lab_dir) as lab:
        result = set_member(lab.dc(name), group_name, member, present=False)
    click.echo(f"{result['member']} removed from {result['group']}")


# --- events and registry ----------------------------------------------------------------------------

@dc.command("events")
@lab_dir_option
@click.argument("name")
@click.option("--log", "log_name", help="Directory Service (ds), System, DFS Replication (dfsr).")
@click.option("--id", "event_id", type=int, help="Only this event ID.")
@click.option("--level", type=click.Choice(["information", "warning", "error"], case_sensitive=False),
              help="Only this level.")
@click.option("--last", type=int, help="Only the last N events.")
@json_option
def events(lab_dir: Path, name: str, log_name: str | None, event_id: int | None, level: str | None,
           last: int | None, as_json: bool) -> None:
    """Get-WinEvent: DC NAME's event logs (read from its disk when the VM is off)."""
    from ..lab.control import events as query
    with opened_lab(lab_dir) as lab:
        result = query(lab, name, log=log_name, event_id=event_id, level=level)
    if last:
        result = result[-last:]
    emit(result, as_json, _render_events)


def _render_events(records: list[Any]) -> str:
    return "\n".join(f"{r.time}  {r.log:<17} {r.event_id:>5} {r.level:<11} {r.message}" for r in records) \
        or "(no events)"


registry = group("registry", "Read and set guest registry values (NTDS Parameters and friends).")
dc.add_command(registry)


@registry.command("show")
@lab_dir_option
@click.argument("name")
@click.option("--key", help="Only this key (full path, or its ending, e.g. 'NTDS\\Parameters').")
@json_option
def registry_show(lab_dir: Path, name: str, key: str | None, as_json: bool) -> None:
    """reg query: the registry values dcemu models for DC NAME."""
    from ..lab.control import registry as read
    with opened_lab(lab_dir) as lab:
        result = read(lab, name, key)
    emit(result, as_json, plain)


@registry.command("set")
@lab_dir_option
@click.argument("name")
@click.argument("key")
@click.argument("value_name")
@click.argument("value")
@click.option("--type", "value_type", type=click.Choice(["dword", "string"]), default="dword", show_default=True,
              help="REG_DWORD (an integer) or REG_SZ.")
def registry_set(lab_dir: Path, name: str, key: str, value_name: str, value: str, value_type: str) -> None:
    """reg add: set VALUE_NAME under KEY on DC NAME (acted on at the next boot, as on Windows)."""
    from ..lab.control import set_registry
    parsed: Any = int(value, 0) if value_type == "dword" else value
    with opened_lab(lab_dir) as lab:
        result = set_registry(lab, name, key, value_name, parsed)
    click.echo(f"{result['key']}\\{result['name']} = {result['value']!r}")
