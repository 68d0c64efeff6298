// SES Gateway panel: the template editor. Quill (static/vendor/quill, BSD-3-Clause) edits the
// HTML of the text area #f-html as rich text; "HTML source" shows the text area itself. Without
// this script the text area alone is the editor, and the form posts the same field.
// - The rich view rewrites the source only once the user changed something in it: opening a
//   template and saving it unchanged keeps its HTML byte for byte (Quill simplifies markup it
//   has no format for, such as tables).
// - Alignment is written as inline styles, not Quill's classes: mail clients have no Quill
//   stylesheet.
// - Under the panel's policy (`style-src 'self'`) a browser refuses every `style` attribute it
//   parses, even into a detached document, and reports it. So the HTML given to Quill (the
//   source, or a paste) has its `style` attributes renamed first (`data-gw-style`), and a
//   matcher turns the declarations Quill has formats for back into formats. Quill then writes
//   styles through the DOM, which the policy allows.
"use strict";

const STYLE_ATTRIBUTE = /(\s)style(\s*=)/gi;

function withoutStyleAttributes(html) {
  return html.replace(/<[a-z][^>]*>/gi, (tag) => tag.replace(STYLE_ATTRIBUTE, "$1data-gw-style$2"));
}

function formatsOf(css) {
  const formats = {};
  for (const declaration of css.split(";")) {
    const [name, ...rest] = declaration.split(":");
    const property = (name || "").trim().toLowerCase();
    const value = rest.join(":").trim();
    if (!value) continue;
    if (property === "text-align" && ["center", "right", "justify"].includes(value)) {
      formats.align = value;
    } else if (property === "color") {
      formats.color = value;
    } else if (property === "background-color") {
      formats.background = value;
    } else if (property === "font-weight" && (value === "bold" || Number(value) >= 600)) {
      formats.bold = true;
    } else if (property === "font-style" && value === "italic") {
      formats.italic = true;
    } else if (property === "text-decoration") {
      if (value.includes("underline")) formats.underline = true;
      if (value.includes("line-through")) formats.strike = true;
    }
  }
  return formats;
}

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
  const Delta = Quill.import("delta");
  const convert = quill.clipboard.convert.bind(quill.clipboard);
  quill.clipboard.convert = (input, formats) =>
    convert({ ...input, html: input.html && withoutStyleAttributes(input.html) }, formats);
  quill.clipboard.addMatcher(Node.ELEMENT_NODE, (node, delta) => {
    const css = node.getAttribute("data-gw-style");
    const formats = css ? formatsOf(css) : {};
    if (!Object.keys(formats).length) return delta;
    return delta.ops.reduce(
      (styled, op) =>
        typeof op.insert === "undefined"
          ? styled.push(op)
          : styled.insert(op.insert, { ...formats, ...op.attributes }),
      new Delta(),
    );
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
