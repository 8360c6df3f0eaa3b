// Drag-and-drop upload with a progress bar: plain JS, no build step. Files go to POST /api/works.
(function () {
  const zone = document.getElementById("dropzone");
  const input = document.getElementById("file-input");
  const bar = document.getElementById("upload-progress");
  const list = document.getElementById("upload-results");
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  if (!zone) return;

  // Results stay on screen until dismissed: kept in sessionStorage across the reload that shows the new
  // works, each with its own close button (the label comes from the page, in the reader's language).
  const KEY = "fairtrain-upload-results";
  const closeLabel = list.dataset.close || "Close";

  function save() {
    const rows = [...list.children].map((li) => ({ text: li.dataset.text, ok: li.className === "ok" }));
    try { sessionStorage.setItem(KEY, JSON.stringify(rows)); } catch (e) { /* storage off: stays until reload */ }
  }

  function show(text, ok) {
    const li = document.createElement("li");
    li.dataset.text = text;
    li.className = ok ? "ok" : "error";
    const span = document.createElement("span");
    span.textContent = text + " ";
    const close = document.createElement("button");
    close.type = "button";
    close.className = "dismiss";
    close.textContent = "×";
    close.setAttribute("aria-label", closeLabel);
    close.title = closeLabel;
    close.addEventListener("click", () => { li.remove(); save(); });
    li.append(span, close);
    list.appendChild(li);
    save();
  }

  try {
    for (const r of JSON.parse(sessionStorage.getItem(KEY) || "[]")) show(r.text, r.ok);
  } catch (e) { /* nothing kept */ }

  function send(files) {
    if (!files.length) return;
    const form = new FormData();
    for (const f of files) form.append("files", f, f.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/works");
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    bar.hidden = false; bar.value = 0;
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = Math.round(100 * e.loaded / e.total); };
    xhr.onload = () => {
      bar.value = 100;
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) {
        for (const r of body.results) show(!r.ok ? `✗ ${r.file}: ${r.error}` : r.notice ? `⚠ ${r.file} → #${r.work}: ${r.notice}` : `✓ ${r.file} → ${list.dataset.stored || "#"} #${r.work}`, r.ok && !r.notice);
        document.body.dataset.uploaded = String((Number(document.body.dataset.uploaded) || 0) + body.stored);
        if (body.stored && !body.results.some((r) => r.notice)) setTimeout(() => location.reload(), 600);
      } else {
        show(`✗ ${xhr.status}: ${typeof body.detail === "string" ? body.detail : xhr.statusText}`, false);
      }
    };
    xhr.onerror = () => show(`✗ ${list.dataset.network || "network error"}`, false);
    xhr.send(form);
  }

  zone.addEventListener("click", () => input.click());
  zone.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") input.click(); });
  input.addEventListener("change", () => send(input.files));
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => { e.preventDefault(); zone.classList.remove("over"); send(e.dataTransfer.files); });
})();
