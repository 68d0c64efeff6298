// SES Gateway panel, campaigns: pages that work without it.
// - The new campaign's time zone picker starts at the browser's own zone (the server's choice
//   is UTC, when the form was not sent back with one).
// - Its date, time and time zone are disabled while "when launched" is chosen, enabled for "at
//   a date and time" (without the script they stay enabled, and the server ignores them).
// - A campaign's page, while the campaign is scheduled or sending or some of its messages wait
//   for SES, reads its figures from /campaigns/{id}/progress every few seconds and shows them;
//   once its state changes, the page is loaded again (its buttons depend on the state).
"use strict";

const REFRESH_MS = 2000;
const UNDER_WAY = new Set(["scheduled", "sending"]);

function browserZone() {
  const picker = document.querySelector("select[data-browser-zone]");
  if (!picker) return;
  let zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch {
    return;
  }
  if ([...picker.options].some((option) => option.value === zone)) picker.value = zone;
}

function sendTime(fieldset) {
  const later = fieldset.querySelector('input[name="when"][value="later"]');
  const fields = fieldset.querySelectorAll(".when-at input, .when-at select");
  const toggle = () => {
    for (const field of fields) field.disabled = !later.checked;
  };
  for (const choice of fieldset.querySelectorAll('input[name="when"]')) {
    choice.addEventListener("change", toggle);
  }
  toggle();
}

function show(section, progress) {
  for (const cell of section.querySelectorAll("[data-figure]")) {
    const value = progress[cell.dataset.figure];
    if (value !== undefined) cell.textContent = String(value);
  }
  for (const cell of section.querySelectorAll("[data-rate]")) {
    const rate = progress.rates[cell.dataset.rate];
    if (rate !== undefined) cell.textContent = `${(rate * 100).toFixed(1)} %`;
  }
  const bar = section.querySelector("progress");
  if (bar) {
    bar.max = progress.recipients || 1;
    bar.value = progress.made;
  }
}

function followed(state, waiting) {
  return UNDER_WAY.has(state) || waiting > 0;
}

function follow(section) {
  if (!followed(section.dataset.state, Number(section.dataset.waiting))) return;
  const tick = async () => {
    try {
      const answer = await fetch(section.dataset.progress, { headers: { accept: "application/json" } });
      if (answer.ok) {
        const progress = await answer.json();
        show(section, progress);
        if (progress.state !== section.dataset.state) {
          window.location.reload();
          return;
        }
        if (!followed(progress.state, progress.waiting)) return;
      }
    } catch {
      // The network or the server is away for a moment: try again at the next tick.
    }
    window.setTimeout(tick, REFRESH_MS);
  };
  window.setTimeout(tick, REFRESH_MS);
}

browserZone();
const when = document.querySelector("fieldset.when");
if (when) sendTime(when);
const section = document.querySelector("section[data-progress]");
if (section) follow(section);
