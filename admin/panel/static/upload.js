// SES Gateway panel: an upload with its progress. A form with data-upload sends itself with
// XMLHttpRequest and shows how much of the file has gone in the <progress> that data-upload
// names (and words in data-upload-status), then follows the answer: the import's report.
// Without the script the form is posted as usual.
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.upload) return;
  const bar = document.querySelector(form.dataset.upload);
  const status = document.querySelector(form.dataset.uploadStatus);
  if (!bar || !status) return;
  event.preventDefault();
  const button = form.querySelector("button[type=submit]");
  const request = new XMLHttpRequest();
  request.open("POST", form.action);
  request.upload.addEventListener("progress", (progress) => {
    if (!progress.lengthComputable) return;
    bar.max = progress.total;
    bar.value = progress.loaded;
    status.textContent = `Uploading: ${Math.floor((100 * progress.loaded) / progress.total)}%`;
  });
  request.upload.addEventListener("load", () => {
    bar.removeAttribute("value");
    status.textContent = "Uploaded. Checking and importing the rows…";
  });
  request.addEventListener("load", () => {
    if (request.status < 400 && request.responseURL) {
      window.location.assign(request.responseURL);
      return;
    }
    const answer = new DOMParser().parseFromString(request.responseText, "text/html");
    const main = answer.querySelector("main");
    if (main) {
      document.querySelector("main").replaceWith(main);
    } else {
      status.textContent = `The import failed (${request.status}).`;
      button.disabled = false;
    }
  });
  request.addEventListener("error", () => {
    status.textContent = "The upload failed: check the connection and try again.";
    bar.hidden = true;
    button.disabled = false;
  });
  bar.hidden = false;
  bar.value = 0;
  button.disabled = true;
  status.textContent = "Uploading: 0%";
  request.send(new FormData(form));
});
