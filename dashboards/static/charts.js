// Charts and panels: draws the plotly figures the JSON API returns, and loads every [data-panel] on a page in
// parallel, each on its own (a slow or failing panel never holds up the others). Pages need no chart code:
//   <section class="panel" data-panel="/api/v1/overview/requests?from=now-24h" data-name="requests">
//     <div class="panel-body"></div>
//   </section>
// The panel's answer is {figure: {data, layout}} and/or {table: {columns, rows}}; an error answer
// ({error: "..."}) is shown in the panel. A drag over a time chart sets the page's from/to (the URL is the state).
"use strict";

(() => {
  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

  // Plotly ignores time zones: UTC instants become the browser's local wall-clock time before drawing, so
  // axes read in the browser's zone and a zoomed range converts back exactly (new Date(local) is local).
  const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)$/;
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  function localWallClock(value) {
    if (typeof value !== "string" || !ISO_UTC.test(value)) return value;
    const d = new Date(value);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  }
  function toLocal(figure) {
    for (const trace of figure.data || []) {
      if (Array.isArray(trace.x)) trace.x = trace.x.map(localWallClock);
    }
    for (const shape of (figure.layout && figure.layout.shapes) || []) {
      shape.x0 = localWallClock(shape.x0);
      shape.x1 = localWallClock(shape.x1);
    }
    for (const note of (figure.layout && figure.layout.annotations) || []) note.x = localWallClock(note.x);
    return figure;
  }

  function themed(layout) {
    const text = css("--text") || "#1c2330";
    const muted = css("--muted") || "#6a7383";
    const grid = css("--border") || "#e2e5ea";
    const axis = (a) => Object.assign({}, a, {
      color: muted, gridcolor: grid, linecolor: grid, tickfont: { color: muted, size: 11 },
      automargin: true,
    });
    return Object.assign({}, layout, {
      font: Object.assign({}, layout.font, { color: text }),
      xaxis: axis(layout.xaxis || {}),
      yaxis: axis(layout.yaxis || {}),
      hoverlabel: { bgcolor: css("--surface") || "#fff", bordercolor: grid, font: { color: text } },
      autosize: true,
    });
  }

  // A drag-zoom on a time axis moves the whole page to that range.
  function followZoom(el) {
    el.on("plotly_relayout", (event) => {
      const from = event["xaxis.range[0]"];
      const to = event["xaxis.range[1]"];
      if (!from || !to || el.dataset.zoom === "off") return;
      const url = new URL(window.location.href);
      url.searchParams.set("from", new Date(from).toISOString());
      url.searchParams.set("to", new Date(to).toISOString());
      window.location.assign(url.toString());
    });
  }

  function draw(el, figure, name) {
    const fig = toLocal(JSON.parse(JSON.stringify(figure)));
    const config = {
      displaylogo: false,
      responsive: true,
      modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines", "zoomIn2d", "zoomOut2d"],
      toImageButtonOptions: { format: "png", filename: name || "lookout-chart", scale: 2 },
    };
    window.Plotly.newPlot(el, fig.data, themed(fig.layout || {}), config).then(() => {
      if ((fig.layout.xaxis || {}).type === "date") followZoom(el);
      el.dataset.drawn = "true";
    });
    el.lookoutFigure = figure;
  }

  function sparkline(values) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 80 20");
    svg.setAttribute("class", "spark");
    const numbers = values.filter((v) => v !== null);
    if (numbers.length < 2) return svg;
    const max = Math.max(...numbers) || 1;
    const step = 80 / (values.length - 1);
    let d = "";
    values.forEach((v, i) => {
      if (v === null) return;
      d += `${d && values[i - 1] !== null ? "L" : "M"}${(i * step).toFixed(1)},${(19 - (v / max) * 18).toFixed(1)}`;
    });
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", d);
    svg.appendChild(path);
    return svg;
  }

  // Values are text, never HTML.
  function table(spec) {
    if (!spec.rows.length) {
      const p = document.createElement("p");
      p.className = "empty";
      p.textContent = spec.empty;
      return p;
    }
    const t = document.createElement("table");
    t.className = "table table-compact";
    const head = t.createTHead().insertRow();
    for (const column of spec.columns) {
      const th = document.createElement("th");
      th.textContent = column.label;
      if (column.align === "right") th.className = "num";
      head.appendChild(th);
    }
    const body = t.createTBody();
    for (const row of spec.rows) {
      const tr = body.insertRow();
      for (const column of spec.columns) {
        const td = tr.insertCell();
        if (column.align === "right") td.className = "num";
        const cell = row[column.key];
        if (!cell) continue;
        let holder = td;
        if (cell.href) {
          holder = document.createElement("a");
          holder.href = cell.href;
          td.appendChild(holder);
        }
        const span = document.createElement("span");
        span.textContent = cell.text;
        if (cell.tone) span.className = `tone-${cell.tone}`;
        if (cell.title) span.title = cell.title;
        holder.appendChild(span);
        if (cell.spark) td.appendChild(sparkline(cell.spark));
      }
    }
    if (!spec.shown || spec.rows.length <= spec.shown) return t;
    const hidden = Array.from(body.rows).slice(spec.shown);
    for (const tr of hidden) tr.hidden = true;
    const more = document.createElement("button");
    more.type = "button";
    more.className = "link-button";
    more.textContent = `Show all ${spec.rows.length}`;
    more.addEventListener("click", () => {
      for (const tr of hidden) tr.hidden = false;
      more.remove();
    });
    const holder = document.createElement("div");
    holder.append(t, more);
    return holder;
  }

  function message(body, text, className) {
    body.replaceChildren();
    const p = document.createElement("p");
    p.className = className;
    p.textContent = text;
    body.appendChild(p);
  }

  async function load(panel) {
    const body = panel.querySelector(".panel-body") || panel;
    panel.dataset.state = "loading";
    panel.setAttribute("aria-busy", "true");
    try {
      const answer = await window.Lookout.json(panel.dataset.panel);
      body.replaceChildren();
      if (answer.figure) {
        const chart = document.createElement("div");
        chart.className = "chart";
        body.appendChild(chart);
        draw(chart, answer.figure, panel.dataset.name);
      }
      if (answer.table) body.appendChild(table(answer.table));
      if (!answer.figure && !answer.table) message(body, "Nothing in this range.", "empty");
      panel.dataset.state = "ready";
      panel.dispatchEvent(new CustomEvent("lookout:panel", { detail: answer, bubbles: true }));
    } catch (error) {
      message(body, `This panel could not load: ${error.message}`, "panel-error");
      panel.dataset.state = "error";
    } finally {
      panel.removeAttribute("aria-busy");
    }
  }

  window.LookoutCharts = { draw, load, table };

  document.addEventListener("DOMContentLoaded", () => {
    for (const panel of document.querySelectorAll("[data-panel]")) load(panel);
  });

  // The palette follows the browser's preference, also when it changes while the page is open.
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
    for (const el of document.querySelectorAll(".js-plotly-plot")) {
      if (el.lookoutFigure) draw(el, el.lookoutFigure, el.dataset.name);
    }
  });
})();
