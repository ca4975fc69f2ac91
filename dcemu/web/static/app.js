// dcemu classroom view: draws the model the server pushes (dcemu.web.view.build_view) and posts actions.
// Plain JavaScript, no build step.  Every update redraws from the newest view, so a page that
// missed a message is right again at the next one.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { view: null, actions: [], mode: null };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || (value === false && !key.startsWith("data-"))) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, String(value));
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" || typeof child === "number" ? String(child) : child);
  }
  return node;
}

const short = (guid) => (guid ? String(guid).slice(0, 8) : "-");

async function getJSON(path) {
  const response = await fetch(path, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

async function postJSON(path, body) {
  const response = await fetch(path, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  return { status: response.status, data: await response.json() };
}

// --- drawing -------------------------------------------------------------------------------------

function eventItem(e, withDc) {
  return el("li", { class: `event level-${e.level || "Information"}`, "data-dc": e.dc, "data-id": e.id },
    el("span", { class: "event-id", text: String(e.id) }),
    withDc ? el("span", { class: "dc-name", text: `${e.dc} ` }) : null,
    el("span", { class: "event-text", text: e.message || "" }));
}

function drawStep(step) {
  $("step-index").textContent = step ? String(step.index) : "-";
  $("step-action").textContent = step ? step.action.replaceAll("_", " ") : "";
  $("narration").textContent = step ? step.narration : "No step yet.";
  $("narration").dataset.step = step ? step.index : "";
  $("step-note").textContent = step && step.note ? step.note : "";
  const error = $("step-error");
  error.hidden = !(step && step.error);
  error.textContent = step && step.error ? step.error : "";
  $("step-events").replaceChildren(...(step ? step.events.map((e) => eventItem(e, true)) : []));
}

function drawRollbacks(rollbacks, lanesByDc) {
  $("rollbacks").hidden = rollbacks.length === 0;
  $("rollback-list").replaceChildren(...rollbacks.map((r) => el("li", {
    class: "rollback", "data-dc": r.dc, "data-by": r.by, "data-from": r.missing_from, "data-to": r.missing_to,
  }, el("span", { class: "range", text: `USNs ${r.missing_from}-${r.missing_to}` }),
  ` claimed but missing on ${r.dc}: `, r.text)));
  for (const r of rollbacks) if (lanesByDc[r.dc]) lanesByDc[r.dc].classList.add("rollback");
}

function fact(label, value, cls) {
  return [el("dt", { text: label }), el("dd", { class: cls, text: value === null || value === undefined ? "-" : String(value) })];
}

function drawLane(lane, rolled) {
  const classes = ["lane", lane.running ? "on" : "off"];
  if (lane.quarantined) classes.push("quarantined");
  const badges = el("div", { class: "badges" },
    el("span", { class: "badge mode", text: lane.running ? (lane.mode || "normal") : (lane.vm_state || lane.mode || "off") }),
    lane.quarantined ? el("span", { class: "badge quarantined", text: "QUARANTINED (Dsa Not Writable = 4)" }) : null,
    rolled ? el("span", { class: "badge rollback", text: "USN ROLLBACK" }) : null,
    lane.genid_mismatch ? el("span", { class: "badge mismatch", text: "GenID changed" }) : null,
    ...lane.roles.map((r) => el("span", { class: "badge role", text: r })));
  const pool = lane.rid_pool;
  const facts = el("dl", { class: "facts" },
    ...fact("USN", lane.usn, "usn"),
    ...fact("invocationID", lane.invocation_id, "inv"),
    ...fact("retired", lane.retired_invocation_ids.length ? lane.retired_invocation_ids.map(short).join(", ") : "none", "retired"),
    ...fact("GenID (VM)", lane.generation_id_vm, "genid-vm"),
    ...fact("GenID (stored)", lane.generation_id_stored, "genid-stored"),
    ...fact("RID pool", pool ? `${pool.current}${pool.next ? " next " + pool.next : ""} (next RID ${pool.next_rid})` : null, "rid"),
    ...fact("boot", lane.boot_case, "boot"),
    ...fact("objects", lane.objects, "objects"));
  return el("article", { class: classes.join(" "), "data-dc": lane.name, "data-usn": lane.usn,
    "data-invocation-id": lane.invocation_id, "data-quarantined": lane.quarantined },
  el("h3", {}, el("span", { class: "dc-name", text: lane.name }),
    el("span", { class: "os", text: [lane.os_version && `Windows Server ${lane.os_version}`, lane.host].filter(Boolean).join(" on ") })),
  badges, facts,
  el("ul", { class: "events" }, ...lane.events.map((e) => eventItem({ ...e, dc: lane.name }, false))));
}

function drawArrows(arrows) {
  $("no-arrows").hidden = arrows.length > 0;
  $("arrows").replaceChildren(...arrows.map((a) => {
    const parts = [];
    parts.push(`sent ${a.sent}`);
    if (a.filtered) parts.push(`filtered by the UTD vector ${a.filtered}` + (a.claimed.length ? ` (claimed USNs ${a.claimed[0]}-${a.claimed[a.claimed.length - 1]})` : ""));
    if (a.result) parts.push(`failed: ${a.result}`);
    return el("li", { class: `arrow ${a.kind}`, "data-source": a.source, "data-dest": a.dest, "data-sent": a.sent,
      "data-filtered": a.filtered, "data-result": a.result },
    el("span", { class: "dc-name", text: a.source }), el("span", { class: "line" }),
    el("span", { class: "dc-name", text: a.dest }), el("span", { class: "what", text: parts.join("; ") }));
  }));
}

function drawForest(forest) {
  const body = $("forest-body");
  if (!forest) { body.className = "quiet"; body.textContent = "Not computed for this step."; return; }
  const items = [];
  const dups = forest.duplicate_sids || [];
  const diverged = forest.divergence || [];
  const lingering = forest.lingering || [];
  const quarantined = forest.quarantined || [];
  const asOf = forest.full_step !== undefined && forest.full_step !== forest.step
    ? `Divergence and lingering objects as of step ${forest.full_step} (run the "check" action to compare again).` : "";
  if (asOf) items.push(el("p", { class: "quiet as-of", text: asOf }));
  items.push(el("p", { class: "quiet", text: dups.length + diverged.length + lingering.length + quarantined.length
    ? "" : "None: every running DC holds the same replicated data." }));
  if (quarantined.length) items.push(el("p", { class: "quarantined-list", text: `Quarantined: ${quarantined.join(", ")}` }));
  if (dups.length) {
    items.push(el("h3", { text: `Duplicate SIDs (${dups.length})` }));
    items.push(el("ul", {}, ...dups.slice(0, 20).map((d) => el("li", { class: "dup-sid", "data-sid": d.sid },
      `${d.sid}: `, d.objects.map((o) => `${o.dn.split(",")[0]} on ${o.dc}`).join("; ")))));
  }
  if (diverged.length) {
    items.push(el("h3", { text: `Divergent objects (${diverged.length})` }));
    const names = Object.keys(diverged[0].values || {});
    const table = el("table", { class: "rows" }, el("tr", {}, el("th", { text: "object" }), el("th", { text: "attribute" }),
      ...names.map((n) => el("th", { text: n }))));
    for (const d of diverged.slice(0, 15)) {
      table.append(el("tr", { class: "diverged", "data-guid": d.guid }, el("td", { text: d.dn.split(",")[0] }),
        el("td", { text: d.attribute }), ...names.map((n) => el("td", { text: d.values[n] === null ? "- absent -" : String(d.values[n]) }))));
    }
    items.push(table);
  }
  if (lingering.length) {
    items.push(el("h3", { text: `Lingering objects (${lingering.length})` }));
    items.push(el("ul", {}, ...lingering.slice(0, 15).map((l) => el("li", { class: "lingering", text: `${l.dn.split(",")[0]} on ${l.dc}, gone from ${l.reference}` }))));
  }
  body.className = "";
  body.replaceChildren(...items);
}

function drawHistory(history) {
  $("history").replaceChildren(...history.map((h) => el("li", { value: h.index, class: h.error ? "failed" : "",
    "data-step": h.index, text: h.narration })));
}

function draw(view) {
  state.view = view;
  document.title = `dcemu: ${view.title || "classroom view"}`;
  $("title").textContent = view.title || "classroom view";
  $("mode").textContent = view.mode === "live" ? "LIVE" : "REPLAY";
  $("position").textContent = view.count ? `step ${view.index} of ${view.count - 1}` : "no steps";
  drawStep(view.step);
  const rolled = new Set(view.rollbacks.map((r) => r.dc));
  const lanes = view.lanes.map((lane) => drawLane(lane, rolled.has(lane.name)));
  $("lanes").replaceChildren(...lanes);
  const byDc = Object.fromEntries(lanes.map((node) => [node.dataset.dc, node]));
  drawRollbacks(view.rollbacks, byDc);
  drawArrows(view.arrows);
  drawForest(view.forest);
  drawHistory(view.history);
  if (view.mode === "replay") drawReplay(view);
  else refreshPicks();
  document.body.dataset.step = view.index === null ? "" : String(view.index);
  document.body.dataset.count = String(view.count);
  document.body.dataset.ready = "true";
}

// --- replay --------------------------------------------------------------------------------------

function drawReplay(view) {
  $("replay").hidden = false;
  const select = $("replay-run");
  if (select.options.length !== (view.runs || []).length) {
    select.replaceChildren(...view.runs.map((label, i) => el("option", { value: i, text: label })));
  }
  select.value = String(view.run);
  const slider = $("replay-slider");
  slider.max = String(Math.max(0, view.count - 1));
  slider.value = String(view.index);
  $("replay-back").disabled = view.index <= 0;
  $("replay-first").disabled = view.index <= 0;
  $("replay-forward").disabled = view.index >= view.count - 1;
  $("replay-last").disabled = view.index >= view.count - 1;
}

function wireReplay() {
  const move = (command, extra = {}) => postJSON("/api/replay", { command, ...extra });
  $("replay-first").onclick = () => move("first");
  $("replay-back").onclick = () => move("back");
  $("replay-forward").onclick = () => move("forward");
  $("replay-last").onclick = () => move("last");
  $("replay-decisive").onclick = () => move("decisive");
  $("replay-slider").onchange = (e) => move("goto", { index: Number(e.target.value) });
  $("replay-run").onchange = (e) => move("first", { run: Number(e.target.value) });
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT" || e.target.tagName === "SELECT") return;
    if (e.key === "ArrowRight") move("forward");
    if (e.key === "ArrowLeft") move("back");
  });
}

// --- actions ---------------------------------------------------------------------------------------

function choicesFor(param) {
  const names = (state.view && state.view.names) || { dc: [], host: [] };
  if (param.choices && param.choices.length) return param.choices;
  if (param.picks === "dc") return names.dc;
  if (param.picks === "host") return names.host;
  return null;
}

function drawForm() {
  const action = state.actions.find((a) => a.name === $("action-select").value);
  const form = $("action-form");
  if (!action) { form.replaceChildren(); return; }
  $("action-help").textContent = action.help + (action.destructive ? " (destructive: asks to confirm)" : "");
  form.replaceChildren(...action.params.map((p) => {
    const id = `param-${p.name}`;
    const label = el("label", { for: id, text: p.name + (p.help ? ` (${p.help})` : "") });
    const choices = choicesFor(p);
    let input;
    if (p.kind === "bool") {
      input = el("input", { id, name: p.name, type: "checkbox", "data-kind": "bool" });
      input.checked = Boolean(p.default);
      return el("div", { class: "field check" }, input, label);
    }
    if (choices) {
      input = el("select", { id, name: p.name, "data-picks": p.picks || "" },
        ...(p.required ? [] : [el("option", { value: "", text: p.default === null ? "(none)" : `(default: ${p.default})` })]),
        ...choices.map((c) => el("option", { value: c, text: c })));
    } else {
      const value = p.default === null || p.default === undefined ? "" : (Array.isArray(p.default) ? p.default.join(",") : String(p.default));
      input = el("input", { id, name: p.name, type: "text", value, placeholder: p.kind });
    }
    return el("div", { class: "field" }, label, input);
  }));
}

function refreshPicks() {
  // New DCs (a clone) appear in the choices without losing what was picked.
  for (const select of document.querySelectorAll("#action-form select[data-picks]")) {
    const kind = select.dataset.picks;
    const names = (state.view.names || {})[kind] || [];
    const have = new Set([...select.options].map((o) => o.value));
    for (const name of names) if (!have.has(name)) select.append(el("option", { value: name, text: name }));
  }
}

function formArgs() {
  const args = {};
  for (const input of $("action-form").querySelectorAll("input, select")) {
    if (input.dataset.kind === "bool") args[input.name] = input.checked;
    else if (input.value !== "") args[input.name] = input.value;
  }
  return args;
}

function confirmAction(text) {
  return new Promise((resolve) => {
    const dialog = $("confirm");
    $("confirm-text").textContent = text;
    dialog.onclose = () => resolve(dialog.returnValue === "yes");
    dialog.showModal();
  });
}

async function runAction() {
  const action = state.actions.find((a) => a.name === $("action-select").value);
  if (!action) return;
  const args = formArgs();
  let confirm = false;
  if (action.destructive) {
    const what = Object.entries(args).map(([k, v]) => `${k}=${v}`).join(", ");
    confirm = await confirmAction(`${action.name.replaceAll("_", " ")} (${what}) changes the lab in a way that cannot be undone. Go on?`);
    if (!confirm) return;
  }
  const button = $("run-action");
  const result = $("action-result");
  button.disabled = true;
  result.className = "result";
  result.textContent = "running...";
  try {
    const { status, data } = await postJSON("/api/act", { action: action.name, args, confirm });
    if (status !== 200) {
      result.className = "result failed";
      result.textContent = data.error;
    } else {
      result.className = data.error ? "result failed" : "result";
      result.dataset.step = data.step;
      result.replaceChildren(el("p", { class: "narration-small", text: data.narration }),
        el("ul", { class: "events" }, ...data.events.map((e) => eventItem(e, true))));
    }
  } finally {
    button.disabled = false;
  }
}

async function wireActions() {
  const catalogue = await getJSON("/api/actions");
  state.actions = catalogue.actions;
  if (catalogue.mode !== "live") return;
  $("actions").hidden = false;
  $("action-select").replaceChildren(...state.actions.map((a) => el("option", { value: a.name,
    text: a.name.replaceAll("_", " ") + (a.destructive ? " (!)" : "") })));
  $("action-select").onchange = drawForm;
  $("run-action").onclick = runAction;
  drawForm();
}

// --- the stream ---------------------------------------------------------------------------------

function connect() {
  const source = new EventSource("/api/events");
  source.addEventListener("view", (message) => draw(JSON.parse(message.data)));
  source.onopen = () => { $("connection").textContent = "connected"; $("connection").className = "pill on"; };
  source.onerror = () => { $("connection").textContent = "reconnecting"; $("connection").className = "pill off"; };
}

async function main() {
  if (new URLSearchParams(location.search).has("token")) history.replaceState(null, "", "/");
  await wireActions();
  wireReplay();
  draw(await getJSON("/api/view"));
  if (state.mode === null) drawForm();
  connect();
}

main().catch((error) => {
  document.body.dataset.ready = "error";
  $("narration").textContent = `The view could not load: ${error.message}`;
});
