// SES Gateway panel: a little script on pages that work without it.
// - Forms with data-confirm ask in a dialog, then submit with confirmed=yes (without the
//   script, the server asks on a page instead).
// - Buttons with data-copy copy the text of the element their selector names.
// - A form's role and tenant agree: choosing the admin role clears the tenant (an admin has
//   none), choosing another role with no tenant picks the first.
"use strict";

function confirmDialog(question, onYes) {
  const dialog = document.createElement("dialog");
  dialog.className = "confirm";
  const text = document.createElement("p");
  text.textContent = question;
  const yes = document.createElement("button");
  yes.type = "button";
  yes.className = "danger";
  yes.textContent = "Confirm";
  const no = document.createElement("button");
  no.type = "button";
  no.textContent = "Cancel";
  dialog.append(text, yes, no);
  document.body.append(dialog);
  yes.addEventListener("click", () => { dialog.close(); dialog.remove(); onYes(); });
  no.addEventListener("click", () => { dialog.close(); dialog.remove(); });
  dialog.addEventListener("cancel", () => dialog.remove());
  dialog.showModal();
  no.focus();
}

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.confirm) return;
  if (form.querySelector("input[name=confirmed]")) return;
  event.preventDefault();
  confirmDialog(form.dataset.confirm, () => {
    const confirmed = document.createElement("input");
    confirmed.type = "hidden";
    confirmed.name = "confirmed";
    confirmed.value = "yes";
    form.append(confirmed);
    form.requestSubmit ? form.requestSubmit() : form.submit();
  });
});

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  try {
    await navigator.clipboard.writeText(source.textContent.trim());
    button.textContent = "Copied";
  } catch {
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    button.textContent = "Selected: press Ctrl+C";
  }
});

document.addEventListener("change", (event) => {
  const role = event.target;
  if (!(role instanceof HTMLSelectElement) || role.name !== "role" || !role.form) return;
  const tenant = role.form.elements.namedItem("tenant");
  if (!(tenant instanceof HTMLSelectElement)) return;
  if (role.value === "admin") tenant.value = "";
  else if (!tenant.value && tenant.options.length > 1) tenant.selectedIndex = 0;
});
