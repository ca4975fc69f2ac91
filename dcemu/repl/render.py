"""repadmin's text layouts for the views in ``dcemu.repl.views`` (R-REPL-60..63).

Layouts follow the real outputs quoted in replication.md (ABANDON's /showrepl and
/showutdvec, the support-wiki /showobjmeta); /showchanges and /replsummary follow repadmin's
documented shape (their exact strings are an open point of the spec, R-REPL-63).
"""

from __future__ import annotations

import datetime as _dt

from .codes import error_text
from .views import ObjMeta, ReplSummary, ShowChanges, ShowRepl, UtdRow


def _t(when: _dt.datetime | None) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S") if when is not None else "(never)"


def render_showrepl(view: ShowRepl, *, repsto: bool = False, verbose: bool = False, errors_only: bool = False) -> str:
    lines = [f"Repadmin: running command /showrepl against full DC {view.server.split(chr(92))[-1]}",
             view.server,
             f"DSA Options: {' '.join(view.dsa_options) if view.dsa_options else '(none)'}",
             f"Site Options: {view.site_options}",
             f"DSA object GUID: {view.dsa_guid}",
             f"DSA invocationID: {view.invocation_id}", "",
             "==== INBOUND NEIGHBORS ======================================", ""]
    lines += _neighbors(view.inbound, verbose=verbose, errors_only=errors_only, inbound=True)
    if repsto:
        lines += ["==== OUTBOUND NEIGHBORS FOR CHANGE NOTIFICATIONS ============", ""]
        lines += _neighbors(view.outbound, verbose=verbose, errors_only=False, inbound=False)
    return "\n".join(lines).rstrip() + "\n"


def _neighbors(rows: tuple, *, verbose: bool, errors_only: bool, inbound: bool) -> list[str]:
    lines: list[str] = []
    current = None
    for n in rows:
        if errors_only and not n.last_result:
            continue
        if n.nc != current:
            if current is not None:
                lines.append("")
            lines.append(n.nc)
            current = n.nc
        lines.append(f"    {n.partner} via {n.transport}")
        lines.append(f"        DSA object GUID: {n.partner_guid}")
        if not inbound:
            continue
        if verbose:
            lines.append(f"        USNs: {n.usn_high_obj_update}/OU, {n.usn_high_prop_update}/PU")
        if n.last_attempt is None:
            lines.append("        Last attempt @ (never) was not made yet.")
        elif n.last_result == 0:
            lines.append(f"        Last attempt @ {_t(n.last_attempt)} was successful.")
        else:
            lines.append(f"        Last attempt @ {_t(n.last_attempt)} failed, result {n.last_result} "
                         f"(0x{n.last_result:x}):")
            lines.append(f"            {error_text(n.last_result)}")
            lines.append(f"        {n.consecutive_failures} consecutive failure(s).")
            lines.append(f"        Last success @ {_t(n.last_success)}.")
    if lines:
        lines.append("")
    return lines


def render_showrepl_csv(view: ShowRepl) -> str:
    """``/showrepl /csv``: one row per inbound link."""
    head = ("showrepl_COLUMNS,Destination DSA Site,Destination DSA,Naming Context,Source DSA Site,Source DSA,"
            "Transport Type,Number of Failures,Last Failure Time,Last Success Time,Last Failure Status")
    site, _, name = view.server.partition("\\")
    out = [head]
    for n in view.inbound:
        src_site, _, src = n.partner.partition("\\")
        failure_time = _t(n.last_attempt) if n.last_result else "0"
        out.append(f"showrepl_INFO,{site},{name},{n.nc.replace(',', ';')},{src_site},{src or n.partner},"
                   f"{n.transport},{n.consecutive_failures},{failure_time},{_t(n.last_success)},{n.last_result}")
    return "\n".join(out) + "\n"


def render_showutdvec(rows: tuple[UtdRow, ...], *, nocache: bool = False) -> str:
    labels = [r.name + (" (retired)" if r.retired else "") for r in rows]
    width = max((len(x) for x in labels), default=0)
    lines = [] if nocache else ["Caching GUIDs.", ".."]
    for label, r in zip(labels, rows, strict=True):
        lines.append(f"{label:<{width}} @ USN {r.usn:>9} @ Time {_t(r.time)}")
    return "\n".join(lines) + "\n"


def render_showobjmeta(meta: ObjMeta) -> str:
    lines = ["", f"{len(meta.attributes)} entries.",
             "Loc.USN                           Originating DSA  Org.USN  Org.Time/Date        Ver Attribute",
             "=======                           =============== ========= =============        === ========="]
    for r in meta.attributes:
        lines.append(f"{r.loc_usn:>7}{r.originating_dsa:>42}{r.org_usn:>10} {_t(r.org_time)}{r.version:>5} "
                     f"{r.attribute}")
    if meta.values:
        lines += ["", f"{len(meta.values)} entries.",
                  "Type    Attribute     Last Mod Time                            Originating DSA  Loc.USN "
                  "Org.USN Ver",
                  "======= ============  =============                           ================= ======= "
                  "======= ===",
                  "        Distinguished Name", "        ============================="]
        for v in meta.values:
            lines.append(f"{v.type:<7} {v.attribute} {_t(v.last_mod_time)} {v.originating_dsa:>30} "
                         f"{v.loc_usn:>7} {v.org_usn:>7} {v.version:>3}")
            lines.append(f"        {v.value_dn}")
    return "\n".join(lines) + "\n"


def _value(v: object) -> str:
    if isinstance(v, bytes):
        return f"<{len(v)} byte blob>"
    return str(v).replace("\n", "\\0A")


def render_showchanges(view: ShowChanges, *, statistics: bool = False) -> str:
    lines = [f"Repadmin: running command /showchanges against full DC {view.source}"]
    if view.destination:
        lines.append(f"Source: {view.source}  Destination: {view.destination}")
    lines += [f"Naming context: {view.nc}", f"==== Changes from USN {view.usn_from} to {view.usn_to} ====", ""]
    for i, e in enumerate(view.entries, 1):
        lines.append(f"({i}) {e.action} {e.dn.replace(chr(10), chr(92) + '0A')}")
        for j, (attr, values) in enumerate(e.attributes, 1):
            shown = "; ".join(_value(v) for v in values) if values else "(removed)"
            lines.append(f"    {j}> {attr}: {shown}")
    if statistics:
        lines += ["", "Statistics", f"    Objects: {len(view.entries)}", f"    Attributes: {view.attribute_count}",
                  f"    Values: {view.values}"]
    return "\n".join(lines) + "\n"


def format_delta(delta: _dt.timedelta | None) -> str:
    """repadmin's "largest delta": ``45m:12s``, ``01h:02m:03s``, ``3d.04h:05m:06s``, ``>60 days``."""
    if delta is None:
        return "(unknown)"
    if delta > _dt.timedelta(days=60):
        return ">60 days"
    secs = int(delta.total_seconds())
    days, rem = divmod(secs, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, seconds = divmod(rem, 60)
    if days:
        return f"{days}d.{hours:02}h:{minutes:02}m:{seconds:02}s"
    if hours:
        return f"{hours:02}h:{minutes:02}m:{seconds:02}s"
    return f"{minutes:02}m:{seconds:02}s"


def render_replsummary(summary: ReplSummary) -> str:
    lines = [f"Replication Summary Start Time: {_t(summary.start)}", "",
             "Beginning data collection for replication summary, this may take awhile:", "  .....", "", ""]
    for title, rows in (("Source DSA", summary.sources), ("Destination DSA", summary.destinations)):
        lines.append(f"{title:<20}largest delta    fails/total %%   error")
        for r in rows:
            err = "  ".join(f"({e}) {error_text(e)}" for e in r.errors)
            lines.append(f" {r.name:<19}{format_delta(r.largest_delta):>13}   {r.fails:>3} / {r.total:>3}  "
                         f"{r.percent:>3}  {err}".rstrip())
        lines.append("")
    return "\n".join(lines)
