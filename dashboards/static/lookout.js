// Lookout's page behaviour, kept small: no inline scripts (the CSP allows only this file).
"use strict";

// A call to the JSON API, for every page's script (this file loads first): the answer (null for 204), or an
// Error carrying the server's own reason ({error}) or else the status, with the answer as error.answer.
window.Lookout = {
  async json(url, { method = "GET", body, csrf } = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      headers["X-CSRFToken"] = csrf;
    }
    const response = await fetch(url, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 204) return null;
    const answer = await response.json().catch(() => null);
    if (!response.ok) {
      const error = new Error((answer && answer.error) || `the server answered ${response.status}`);
      error.answer = answer || {};
      throw error;
    }
    return answer;
  },
};

document.addEventListener("DOMContentLoaded", () => {
  // Times: shown in the browser's zone, UTC in the title.
  for (const el of document.querySelectorAll("time[datetime]")) {
    const when = new Date(el.getAttribute("datetime"));
    if (!Number.isNaN(when.getTime())) {
      el.textContent = when.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
    }
  }

  // Copy buttons: data-copy names the input to copy from.
  for (const button of document.querySelectorAll("[data-copy]")) {
    button.addEventListener("click", async () => {
      const input = document.querySelector(button.dataset.copy);
      input.select();
      try {
        await navigator.clipboard.writeText(input.value);
      } catch {
        document.execCommand("copy");
      }
      button.textContent = "Copied";
      setTimeout(() => { button.textContent = "Copy"; }, 2000);
    });
  }

  // Destructive forms ask first.
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }

  // Time range: a quick range applies at once, "custom" shows the two fields.
  for (const form of document.querySelectorAll("form[data-range]")) {
    const quick = form.querySelector("[data-range-quick]");
    const custom = form.querySelector("[data-range-custom]");
    quick.addEventListener("change", () => {
      if (quick.value === "custom") {
        custom.hidden = false;
        return;
      }
      form.elements.from.value = quick.value;
      form.elements.to.value = "now";
      form.submit();
    });
  }
});
