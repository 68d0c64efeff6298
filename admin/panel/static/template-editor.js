// SES Gateway panel: the template editor. Quill (static/vendor/quill, BSD-3-Clause) edits the
// HTML of the text area #f-html as rich text; "HTML source" shows the text area itself. Without
// this script the text area alone is the editor, and the form posts the same field.
// - The rich view rewrites the source only once the user changed something in it: opening a
//   template and saving it unchanged keeps its HTML byte for byte (Quill simplifies markup it
//   has no format for, such as tables).
// - Alignment is written as inline styles, not Quill's classes: mail clients have no Quill
//   stylesheet.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const box = document.querySelector("[data-template-editor]");
  const source = document.getElementById("f-html");
  if (!box || !source || typeof window.Quill === "undefined") return;
  const Quill = window.Quill;
  Quill.register(Quill.import("attributors/style/align"), true);
  const pane = box.querySelector(".editor-pane");
  const quill = new Quill(box.querySelector(".editor-rich"), {
    theme: "snow",
    modules: {
      toolbar: [
        [{ header: [1, 2, 3, false] }],
        ["bold", "italic", "underline", "link"],
        [{ list: "ordered" }, { list: "bullet" }],
        [{ align: [] }, { color: [] }],
        ["clean"],
      ],
    },
  });
  let view = "rich";
  let changed = false;

  // Quill 2 writes every space as &nbsp; in its semantic HTML: plain spaces wrap in mail clients.
  const richHtml = () => quill.getSemanticHTML().replaceAll("&nbsp;", " ");
  const load = () => {
    quill.setContents(quill.clipboard.convert({ html: source.value }), "silent");
    changed = false;
  };
  quill.on("text-change", (delta, old, who) => {
    if (who === "user") changed = true;
  });

  const show = (next) => {
    if (next === view) return;
    if (next === "source" && changed) {
      source.value = richHtml();
      changed = false;
    }
    if (next === "rich") load();
    view = next;
    pane.hidden = next !== "rich";
    source.hidden = next !== "source";
    for (const button of box.querySelectorAll("[data-view]")) {
      button.setAttribute("aria-pressed", String(button.dataset.view === next));
    }
    (next === "rich" ? quill : source).focus();
  };
  for (const button of box.querySelectorAll("[data-view]")) {
    button.addEventListener("click", () => show(button.dataset.view));
  }
  source.form.addEventListener("submit", () => {
    if (view === "rich" && changed) source.value = richHtml();
  });

  box.hidden = false;
  source.hidden = true;
  load();
});
