// The rule editor's preview: sends the rule as typed (saved or not) to the preview API, draws the replay with
// the thresholds and the pending/firing/resolved markers, and lists what the rule would have done.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const box = document.querySelector("[data-preview]");
  if (!box) return;
  const source = document.getElementById("rule-definition");
  const span = document.querySelector("[data-preview-span]");
  const run = document.querySelector("[data-preview-run]");
  const chart = box.querySelector("[data-preview-chart]");
  const summary = box.querySelector("[data-preview-summary]");
  const note = box.querySelector("[data-preview-note]");
  const list = box.querySelector("[data-preview-timeline]");
  const local = (iso) => new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

  function show(answer) {
    const sent = answer.notifications.length;
    summary.textContent = answer.fired
      ? `Over this range it would have fired ${plural(answer.fired, "time")} and sent ${plural(sent, "notification")}` +
        " (each to every channel of the rule)."
      : `Over this range it would not have fired${sent ? "" : " and sent no notification"}.`;
    summary.className = `preview-summary ${answer.fired ? "tone-danger" : "tone-ok"}`;
    const shown = answer.series_total > answer.series_shown
      ? ` · the ${answer.series_shown} series closest to the threshold of ${answer.series_total}` : "";
    const failed = answer.errors ? ` · ${plural(answer.errors, "step")} failed` : "";
    note.textContent = `replayed every ${Math.round(answer.step_s / 60)} min (${answer.evaluations} steps)${shown}${failed}`;
    window.LookoutCharts.draw(chart, answer.figure, "rule-preview");
    list.replaceChildren();
    for (const entry of answer.timeline.slice(0, 50)) {
      const li = document.createElement("li");
      li.className = `kind-${entry.kind}`;
      const when = document.createElement("span");
      when.className = "timeline-when";
      when.textContent = local(entry.at);
      when.title = `${entry.at} UTC`;
      const what = document.createElement("span");
      what.className = "timeline-kind";
      what.textContent = entry.kind;
      li.append(when, what);
      if (entry.group_key && entry.group_key !== "{}") {
        const key = document.createElement("code");
        key.textContent = entry.group_key;
        li.append(key);
      }
      if (entry.value !== null) {
        const value = document.createElement("span");
        value.className = "timeline-value";
        value.textContent = `value ${Number(entry.value).toLocaleString(undefined, { maximumSignificantDigits: 4 })}`;
        li.append(value);
      }
      list.append(li);
    }
  }

  async function preview() {
    box.dataset.state = "loading";
    summary.className = "preview-summary muted";
    summary.textContent = "Replaying the rule…";
    try {
      const answer = await window.Lookout.json(box.dataset.preview, {
        method: "POST", csrf: box.dataset.csrf, body: { definition: source.value, span: span.value },
      });
      show(answer);
      box.dataset.state = "ready";
    } catch (error) {
      summary.className = "preview-summary panel-error";
      summary.textContent = `No preview: ${error.message}`;
      box.dataset.state = "error";
    }
  }

  run.addEventListener("click", preview);
  span.addEventListener("change", preview);
  // Plotly loads with `defer` as this file does; both have run by DOMContentLoaded.
  preview();
});
