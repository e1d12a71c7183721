// The log explorer (/explore). Everything it shows comes from /api/v1/explore/*, the same API scripts use,
// and its whole state lives in the URL: q, from, to, columns, pinned, older/newer (paging), pivot, context.
// Values from events are always set as text, never as HTML.
"use strict";

(() => {
  const root = document.querySelector("[data-explorer]");
  if (!root) return;
  const api = root.dataset.api;
  const csrf = root.dataset.csrf;
  const allColumns = root.dataset.columns.split(",");
  const defaultColumns = root.dataset.defaultColumns;
  const params = new URLSearchParams(window.location.search);
  const state = {
    q: params.get("q") || "",
    from: params.get("from") || "now-1h",
    to: params.get("to") || "now",
    columns: (params.get("columns") || defaultColumns).split(",").filter(Boolean),
    pinned: (params.get("pinned") || "").split(",").filter(Boolean),
  };
  const FOLD = 240; // characters of a message shown before "more"
  const TAIL_MAX_ROWS = 500;
  const $ = (selector) => root.querySelector(selector);

  // ------------------------------------------------------------------------------------------- helpers

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  // The URL of this page with some state changed; paging and panels reset unless kept.
  function pageUrl(changes, keep = false) {
    const next = new URLSearchParams(window.location.search);
    if (!keep) for (const name of ["older", "newer", "pivot", "context"]) next.delete(name);
    for (const [name, value] of Object.entries(changes)) {
      if (value === null || value === "" || (Array.isArray(value) && !value.length)) next.delete(name);
      else next.set(name, Array.isArray(value) ? value.join(",") : value);
    }
    if (!next.get("from")) next.set("from", state.from);
    return `${window.location.pathname}?${next.toString()}`;
  }
  const go = (changes, keep) => window.location.assign(pageUrl(changes, keep));

  // The state a saved view or "last used" keeps: the URL without paging or open panels.
  function viewState() {
    const kept = new URLSearchParams();
    for (const name of ["q", "from", "to", "columns", "pinned"]) {
      const value = params.get(name);
      if (value) kept.set(name, value);
    }
    if (!kept.get("from")) kept.set("from", state.from);
    return kept.toString();
  }

  function query(extra = {}) {
    const out = new URLSearchParams({ q: state.q, from: state.from, to: state.to });
    for (const [name, value] of Object.entries(extra)) if (value) out.set(name, value);
    return out.toString();
  }

  function call(path, options = {}) {
    return window.Lookout.json(api + path, { ...options, csrf });
  }

  function when(iso) {
    const moment = new Date(iso);
    const local = moment.toLocaleString(undefined, {
      month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
      fractionalSecondDigits: 3, hourCycle: "h23",
    });
    return el("time", { datetime: iso, title: `${iso} (UTC)`, text: local });
  }

  function quoted(value) {
    return /^[^\s"():]+$/.test(value) && !/^(AND|OR|NOT)$/.test(value)
      ? value : `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
  }

  function addFilter(field, value, exclude) {
    const term = `${exclude ? "-" : ""}${field}:${quoted(String(value))}`;
    go({ q: state.q.trim() ? `${state.q.trim()} ${term}` : term });
  }

  // A query error is shown once, under the search box; the panels only point there.
  function failed(error, what) {
    if (error.answer && "position" in error.answer) {
      showQueryError(error);
      return "Fix the search above to see results.";
    }
    return `${what} could not load: ${error.message}`;
  }

  function status(text) {
    $("[data-status]").textContent = text;
  }

  function showQueryError(error) {
    const box = document.getElementById("search-error");
    const where = error.answer && Number.isInteger(error.answer.position) ? error.answer.position : null;
    box.replaceChildren(el("span", { text: error.message }));
    if (where !== null) {
      const text = state.q;
      box.append(el("code", { class: "search-at" },
        text.slice(0, where), el("mark", { text: text.slice(where, where + 1) || " " }), text.slice(where + 1)));
    }
    box.hidden = false;
  }

  // ------------------------------------------------------------------------------------------- search box

  const box = document.getElementById("q");
  $("[data-search]").addEventListener("submit", (event) => {
    event.preventDefault();
    go({ q: box.value.trim() });
  });
  document.addEventListener("keydown", (event) => {
    const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName);
    if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      box.focus();
      box.select();
    } else if (event.key === "Escape" && document.activeElement === box) {
      box.blur();
    }
  });

  // ------------------------------------------------------------------------------------------- results

  function messageCell(text) {
    const value = String(text ?? "");
    if (value.length <= FOLD) return el("span", { class: "message", text: value });
    const shown = el("span", { class: "message", text: `${value.slice(0, FOLD)}…` });
    const toggle = el("button", { class: "link-button", type: "button", text: `show all ${value.length} characters` });
    toggle.addEventListener("click", (event) => {
      event.stopPropagation();
      const open = toggle.dataset.open === "1";
      shown.textContent = open ? `${value.slice(0, FOLD)}…` : value;
      toggle.textContent = open ? `show all ${value.length} characters` : "fold";
      toggle.dataset.open = open ? "0" : "1";
    });
    return el("span", {}, shown, " ", toggle);
  }

  function cell(column, row) {
    const value = row[column];
    if (column === "timestamp") return when(value);
    if (column === "message") return messageCell(value);
    if (column === "level") return el("span", { class: `level level-${value}`, text: value });
    if ((column === "request_id" || column === "correlation_id") && value) {
      return el("a", { href: pageUrl({ pivot: value }, true), class: "pivot-link", title: "Every event with this id", text: value });
    }
    if (column === "metadata") return el("code", { text: JSON.stringify(value) });
    return document.createTextNode(value === null || value === undefined ? "" : String(value));
  }

  // Every field of an event, each value with buttons adding field:value or -field:value to the query.
  function flatten(prefix, value, out) {
    if (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length) {
      for (const [key, inner] of Object.entries(value)) flatten(`${prefix}.${key}`, inner, out);
    } else {
      out.push([prefix, value]);
    }
    return out;
  }

  function fieldRow(name, value, filterable) {
    const shown = value === null || value === undefined ? "" : (typeof value === "object" ? JSON.stringify(value) : String(value));
    const actions = el("span", { class: "field-actions" });
    if (filterable && shown !== "") {
      actions.append(
        el("button", { class: "btn btn-small btn-ghost", type: "button", title: `Only ${name}: ${shown}`, "aria-label": `Filter on ${name}`, text: "+", onclick: () => addFilter(name, shown, false) }),
        el("button", { class: "btn btn-small btn-ghost", type: "button", title: `Exclude ${name}: ${shown}`, "aria-label": `Exclude ${name}`, text: "−", onclick: () => addFilter(name, shown, true) }),
      );
    }
    let valueNode = el("span", { class: "field-value", text: shown });
    if ((name === "request_id" || name === "correlation_id") && shown) {
      valueNode = el("a", { class: "field-value pivot-link", href: pageUrl({ pivot: shown }, true), text: shown });
    }
    return el("div", { class: "field" }, el("dt", { text: name }), el("dd", {}, valueNode, actions));
  }

  function details(event) {
    const list = el("dl", { class: "fields" });
    for (const [name, value] of Object.entries(event)) {
      if (name === "cursor" || name === "metadata") continue;
      list.append(fieldRow(name, value, name !== "ingested_at" && name !== "timestamp"));
    }
    const metadata = event.metadata || {};
    const wrap = el("div", { class: "event-details" }, list);
    if (Object.keys(metadata).length) {
      const attrs = el("dl", { class: "fields" });
      for (const [name, value] of flatten("attr", metadata, [])) attrs.append(fieldRow(name, value, true));
      wrap.append(el("h3", { text: "metadata" }), attrs, el("pre", { class: "metadata", text: JSON.stringify(metadata, null, 2) }));
    }
    return wrap;
  }

  function header(columns, extra) {
    const head = el("tr");
    for (const column of columns) head.append(el("th", { text: column === "timestamp" ? "time" : column.replace("_", " ") }));
    if (extra) head.append(el("th", { class: "actions", text: "" }));
    return el("thead", {}, head);
  }

  function resultRow(row, columns, { expandable = true, anchor = false } = {}) {
    const tr = el("tr", { class: `result${anchor ? " anchor" : ""}`, tabindex: expandable ? "0" : null, "aria-expanded": expandable ? "false" : null });
    for (const column of columns) tr.append(el("td", { class: `col-${column}` }, cell(column, row)));
    if (!expandable) return [tr];
    const context = el("a", { href: pageUrl({ context: row.cursor }, true), class: "small", text: "context" });
    context.addEventListener("click", (event) => event.stopPropagation());
    tr.append(el("td", { class: "actions" }, context));
    const detail = el("tr", { class: "detail", hidden: true }, el("td", { colspan: String(columns.length + 1) }, el("p", { class: "muted", text: "Loading…" })));
    let loaded = false;
    const toggle = async (event) => {
      if (event.target.closest("a, button")) return;
      const open = tr.getAttribute("aria-expanded") !== "true";
      tr.setAttribute("aria-expanded", String(open));
      detail.hidden = !open;
      if (open && !loaded) {
        loaded = true;
        try {
          const answer = await call(`/events/${encodeURIComponent(row.cursor)}`);
          detail.firstChild.replaceChildren(details(answer.event));
        } catch (error) {
          detail.firstChild.replaceChildren(el("p", { class: "panel-error", text: `Could not load the event: ${error.message}` }));
        }
      }
    };
    tr.addEventListener("click", toggle);
    tr.addEventListener("keydown", (event) => { if (event.key === "Enter") toggle(event); });
    return [tr, detail];
  }

  async function loadResults() {
    const table = $("[data-results]");
    const empty = $("[data-results-empty]");
    const columns = ["timestamp", ...state.columns.filter((c) => c !== "timestamp" && c !== "event_id")];
    try {
      const page = await call(`/search?${query({ columns: state.columns.join(","), older: params.get("older"), newer: params.get("newer"), limit: "100" })}`);
      table.replaceChildren(header(columns, true));
      const body = el("tbody");
      for (const row of page.rows) body.append(...resultRow(row, columns));
      table.append(body);
      empty.hidden = page.rows.length > 0;
      empty.textContent = state.q
        ? "No event matches this search in this range. Widen the time range or remove a filter."
        : "No events in this range yet. Widen the time range, or send events to the collector.";
      const paged = params.get("older") || params.get("newer");
      setLink("[data-older]", page.older && pageUrl({ older: page.older }));
      setLink("[data-newer]", paged && page.newer && pageUrl({ newer: page.newer }));
      setLink("[data-newest]", paged && pageUrl({}));
      root.dataset.results = "ready";
    } catch (error) {
      table.replaceChildren();
      empty.hidden = false;
      empty.className = "panel-error";
      empty.textContent = failed(error, "The results");
      root.dataset.results = "error";
    }
  }

  function setLink(selector, href) {
    const link = $(selector);
    link.hidden = !href;
    if (href) link.href = href;
  }

  // ------------------------------------------------------------------------------------------- histogram

  async function loadHistogram() {
    const holder = $("[data-histogram]");
    try {
      const answer = await call(`/histogram?${query()}`);
      holder.replaceChildren();
      const chart = el("div", { class: "chart" });
      holder.append(chart);
      window.LookoutCharts.draw(chart, answer.figure, "lookout-histogram");
      $("[data-total]").textContent = `${answer.total.toLocaleString()} event${answer.total === 1 ? "" : "s"}`;
      const step = answer.step_s >= 3600 ? `${answer.step_s / 3600} h` : answer.step_s >= 60 ? `${answer.step_s / 60} min` : `${answer.step_s} s`;
      $("[data-step]").textContent = `one bar per ${step} · drag over the chart to zoom`;
    } catch (error) {
      holder.replaceChildren(el("p", { class: "panel-error", text: failed(error, "The histogram") }));
    }
  }

  // ------------------------------------------------------------------------------------------- facets

  async function loadFacets() {
    const holder = $("[data-facets]");
    try {
      const answer = await call(`/facets?${query({ pinned: state.pinned.join(",") })}`);
      holder.replaceChildren();
      for (const facet of answer.facets) {
        const head = el("div", { class: "facet-head" }, el("h3", { text: facet.field }));
        if (facet.pinned) {
          head.append(el("button", {
            class: "link-button small", type: "button", text: "unpin",
            onclick: () => go({ pinned: state.pinned.filter((p) => p !== facet.field) }, true),
          }));
        }
        const list = el("ul", { class: "facet-values", "aria-label": facet.field });
        const most = Math.max(1, ...facet.values.map((v) => v.count));
        for (const item of facet.values) {
          const label = item.value === "" ? "(empty)" : item.value;
          const filter = el("button", {
            class: "facet-value", type: "button", title: `Only ${facet.field}: ${label}`,
            onclick: () => addFilter(facet.field, item.value, false),
          }, el("span", { class: "facet-label", text: label }), el("span", { class: "facet-count", text: item.count.toLocaleString() }));
          filter.style.setProperty("--share", `${(100 * item.count) / most}%`);
          const exclude = el("button", {
            class: "facet-exclude", type: "button", title: `Exclude ${facet.field}: ${label}`, "aria-label": `Exclude ${label}`, text: "−",
            onclick: () => addFilter(facet.field, item.value, true),
          });
          list.append(el("li", {}, filter, exclude));
        }
        if (!facet.values.length) list.append(el("li", { class: "muted small", text: "no values" }));
        holder.append(el("section", { class: "facet" }, head, list));
      }
      root.dataset.facets = "ready";
    } catch (error) {
      holder.replaceChildren(el("p", { class: "panel-error", text: failed(error, "Facets") }));
    }
  }

  $("[data-pin]").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = event.target.elements.key.value.trim();
    if (!key) return;
    const name = key.startsWith("attr.") ? key : `attr.${key}`;
    go({ pinned: [...new Set([...state.pinned, name])] }, true);
  });

  // ------------------------------------------------------------------------------------------- pivot, context

  function closeLink(name) {
    return el("a", { class: "btn btn-small btn-ghost", href: pageUrl({ [name]: null }, true), text: "Close" });
  }

  async function loadPivot(id) {
    const panel = $("[data-pivot]");
    panel.hidden = false;
    panel.replaceChildren(el("div", { class: "card-head" }, el("h2", { text: `Request ${id}` }), closeLink("pivot")), el("p", { class: "muted", text: "Looking in every kind of event…" }));
    try {
      const answer = await call(`/pivot?${new URLSearchParams({ id })}`);
      const kinds = Object.entries(answer.kinds).map(([kind, n]) => `${n} ${kind.replace("_", " ")}${n === 1 ? "" : "s"}`).join(", ");
      const body = el("tbody");
      for (const event of answer.events) {
        body.append(el("tr", { class: "pivot-event" },
          el("td", { class: "nowrap" }, when(event.timestamp)),
          el("td", {}, el("span", { class: `kind kind-${event.kind}`, text: event.kind.replace("_", " ") })),
          el("td", { text: event.service }),
          el("td", { text: event.instance }),
          el("td", {}, messageCell(event.summary))));
      }
      panel.replaceChildren(
        el("div", { class: "card-head" }, el("h2", { text: `Request ${id}` }), closeLink("pivot")),
        el("p", { class: "muted small", text: answer.events.length ? `${answer.events.length} events in the last 7 days: ${kinds}` : "No event of any kind carries this id in the last 7 days." }),
        el("div", { class: "table-wrap" }, el("table", { class: "table timeline" },
          el("thead", {}, el("tr", {}, ...["time", "kind", "service", "instance", "what"].map((t) => el("th", { text: t })))), body)),
      );
      panel.dataset.state = "ready";
    } catch (error) {
      panel.append(el("p", { class: "panel-error", text: `The pivot could not load: ${error.message}` }));
    }
  }

  async function loadContext(cursor) {
    const panel = $("[data-context]");
    panel.hidden = false;
    const head = el("div", { class: "card-head" }, el("h2", { text: "Context" }), closeLink("context"));
    panel.replaceChildren(head, el("p", { class: "muted", text: "Loading the neighbours…" }));
    const columns = ["timestamp", ...state.columns.filter((c) => c !== "timestamp" && c !== "event_id")];
    try {
      const answer = await call(`/events/${encodeURIComponent(cursor)}/context?${new URLSearchParams({ n: "10", columns: state.columns.join(",") })}`);
      const body = el("tbody");
      for (const row of answer.before) body.append(...resultRow(row, columns, { expandable: false }));
      body.append(...resultRow(answer.event, columns, { expandable: false, anchor: true }));
      for (const row of answer.after) body.append(...resultRow(row, columns, { expandable: false }));
      panel.replaceChildren(head,
        el("p", { class: "muted small", text: `The ${answer.before.length} events before and ${answer.after.length} after this one from ${answer.event.service || "its service"} ${answer.event.instance ? `on ${answer.event.instance}` : ""}, whatever the search.` }),
        el("div", { class: "table-wrap" }, el("table", { class: "table results-table" }, header(columns, false), body)));
    } catch (error) {
      panel.append(el("p", { class: "panel-error", text: `The context could not load: ${error.message}` }));
    }
  }

  // ------------------------------------------------------------------------------------------- live tail

  const tail = { controller: null, since: null, seen: new Set(), running: false };
  const tailButton = $("[data-tail]");
  const tailPanel = $("[data-tail-panel]");

  function tailState(text) {
    $("[data-tail-state]").textContent = text;
  }

  function addTailRows(rows) {
    const body = $("[data-tail-rows]");
    const columns = ["timestamp", ...state.columns.filter((c) => c !== "timestamp" && c !== "event_id")];
    for (const row of rows) {
      if (tail.seen.has(row.event_id)) continue;
      tail.seen.add(row.event_id);
      const [tr, detail] = resultRow(row, columns);
      tr.classList.add("fresh");
      body.prepend(tr, detail);
    }
    while (body.children.length > 2 * TAIL_MAX_ROWS) body.lastChild.remove();
    $("[data-tail-empty]").hidden = body.children.length > 0;
  }

  function handleTailEvent(name, data) {
    if (name === "rows") {
      addTailRows(data.rows);
      if (data.since !== null) tail.since = data.since;
    } else if (name === "behind") {
      tailState(data.message);
    } else if (name === "end") {
      stopTail(`${data.message}. Resume to follow again.`);
    }
  }

  async function startTail() {
    tail.controller = new AbortController();
    tail.running = true;
    tailPanel.hidden = false;
    tailButton.textContent = "Pause";
    tailButton.setAttribute("aria-pressed", "true");
    tailState("following new events…");
    const wanted = new URLSearchParams({ q: state.q, columns: state.columns.join(",") });
    if (tail.since !== null) wanted.set("since", String(tail.since));
    try {
      const response = await fetch(`${api}/tail/stream?${wanted}`, { credentials: "same-origin", signal: tail.controller.signal, headers: { Accept: "text/event-stream" } });
      if (!response.ok) {
        let reason = `the server answered ${response.status}`;
        try { reason = (await response.json()).error || reason; } catch { /* not JSON */ }
        stopTail(`The live tail could not start: ${reason}`);
        return;
      }
      root.dataset.tail = "open";
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let name = "message";
          const data = [];
          for (const line of block.split("\n")) {
            if (line.startsWith("event: ")) name = line.slice(7);
            else if (line.startsWith("data: ")) data.push(line.slice(6));
          }
          if (data.length) handleTailEvent(name, JSON.parse(data.join("\n")));
        }
      }
      if (tail.running) stopTail("The live tail was closed by the server. Resume to follow again.");
    } catch (error) {
      if (error.name !== "AbortError") stopTail(`The live tail stopped: ${error.message}`);
    }
  }

  function stopTail(message) {
    tail.running = false;
    if (tail.controller) tail.controller.abort();
    tail.controller = null;
    root.dataset.tail = "paused";
    tailButton.textContent = "Resume live tail";
    tailButton.setAttribute("aria-pressed", "false");
    tailState(message);
  }

  tailButton.addEventListener("click", () => {
    if (tail.running) stopTail("paused: new events are not shown until you resume");
    else startTail();
  });

  // ------------------------------------------------------------------------------------------- columns, export

  const columnsList = $("[data-columns-list]");
  for (const column of allColumns) {
    if (column === "timestamp" || column === "event_id") continue;
    const box = el("input", { type: "checkbox", name: "column", value: column, checked: state.columns.includes(column) });
    columnsList.append(el("label", { class: "check" }, box, ` ${column}`));
  }
  columnsList.append(el("button", {
    class: "btn btn-small btn-primary", type: "button", text: "Apply",
    onclick: () => {
      const chosen = [...columnsList.querySelectorAll("input:checked")].map((b) => b.value);
      go({ columns: chosen.length ? chosen : defaultColumns.split(",") }, true);
    },
  }));

  for (const link of root.querySelectorAll("[data-export]")) {
    link.href = `${api}/export?${query({ format: link.dataset.export, columns: params.get("columns") || "" })}`;
  }

  // ------------------------------------------------------------------------------------------- saved views

  const viewsSelect = $("[data-views]");
  const saveForm = $("[data-save-form]");
  const deleteButton = $("[data-view-delete]");
  let views = [];

  async function loadViews() {
    try {
      const answer = await call("/views");
      views = answer.views;
      const current = viewState();
      viewsSelect.replaceChildren(el("option", { value: "", text: "Saved views…" }));
      const mine = el("optgroup", { label: "Yours" });
      const shared = el("optgroup", { label: "Shared by the team" });
      for (const view of views) {
        const option = el("option", { value: String(view.id), text: view.mine ? `${view.name}${view.shared ? " (shared)" : ""}` : `${view.name} — ${view.owner}` });
        if (view.state === current) option.selected = true;
        (view.mine ? mine : shared).append(option);
      }
      if (mine.children.length) viewsSelect.append(mine);
      if (shared.children.length) viewsSelect.append(shared);
      const chosen = views.find((v) => String(v.id) === viewsSelect.value);
      deleteButton.hidden = !(chosen && chosen.mine);
    } catch (error) {
      status(`Saved views could not load: ${error.message}`);
    }
  }

  viewsSelect.addEventListener("change", () => {
    const view = views.find((v) => String(v.id) === viewsSelect.value);
    if (view) window.location.assign(`${window.location.pathname}?${view.state}`);
  });
  $("[data-save-open]").addEventListener("click", () => {
    saveForm.hidden = false;
    saveForm.elements.name.focus();
  });
  $("[data-save-cancel]").addEventListener("click", () => { saveForm.hidden = true; });
  saveForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const view = await call("/views", { method: "POST", body: { name: saveForm.elements.name.value, state: viewState(), shared: saveForm.elements.shared.checked } });
      saveForm.hidden = true;
      saveForm.reset();
      status(`Saved the view “${view.name}”${view.shared ? ", shared with the team" : ""}.`);
      await loadViews();
    } catch (error) {
      status(`The view was not saved: ${error.message}`);
    }
  });
  deleteButton.addEventListener("click", async () => {
    const view = views.find((v) => String(v.id) === viewsSelect.value);
    if (!view || !window.confirm(`Delete the view “${view.name}”?`)) return;
    try {
      await call(`/views/${view.id}`, { method: "DELETE", body: {} });
      status(`Deleted the view “${view.name}”.`);
      await loadViews();
    } catch (error) {
      status(`The view was not deleted: ${error.message}`);
    }
  });

  // A new range starts from its newest page, with no panel open.
  for (const input of document.querySelectorAll("form[data-range] input[type=hidden]")) {
    if (["older", "newer", "pivot", "context"].includes(input.name)) input.remove();
  }

  // ------------------------------------------------------------------------------------------- start

  document.addEventListener("DOMContentLoaded", () => {
    loadHistogram();
    loadFacets();
    loadResults();
    loadViews();
    if (params.get("pivot")) loadPivot(params.get("pivot"));
    if (params.get("context")) loadContext(params.get("context"));
    call("/last", { method: "PUT", body: { state: viewState() } }).catch(() => { /* a preference: never in the way */ });
  });
})();
