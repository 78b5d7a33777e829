// The hours editor's live preview: the server says what the fields mean and whether that is
// open now (the same parser as everywhere else); the weekly fields also fill the raw field.
(function () {
  "use strict";
  const form = document.getElementById("hours-form");
  if (!form) return;
  const out = document.getElementById("hours-preview");
  const raw = form.elements.opening_hours;
  let timer = null;

  function show(answer, mode) {
    if (!answer.valid) {
      out.textContent = form.dataset.invalid;
      out.className = "note error";
      return;
    }
    if (mode === "weekly") raw.value = answer.opening_hours || "";
    const state = answer.open_now === true ? "open" : answer.open_now === false ? "closed" : "unknown";
    let text = form.dataset[state];
    if (answer.next_change) {
      text += "（" + form.dataset.next + answer.next_change.slice(5, 16).replace("T", " ") + "）";
    }
    out.textContent = text;
    out.className = "note " + (state === "open" ? "ok" : "warn");
  }

  function ask(mode) {
    const params = new URLSearchParams({ mode: mode });
    if (mode === "raw") {
      params.set("opening_hours", raw.value);
    } else {
      for (const input of form.querySelectorAll(".week input")) params.set(input.name, input.value);
    }
    fetch(form.dataset.preview + "?" + params.toString(), { headers: { Accept: "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (answer) { show(answer, mode); })
      .catch(function () { out.textContent = ""; });
  }

  form.addEventListener("input", function (event) {
    const mode = event.target === raw ? "raw" : "weekly";
    clearTimeout(timer);
    timer = setTimeout(function () { ask(mode); }, 250);
  });
})();
