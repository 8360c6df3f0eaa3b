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
    const rows = [...list.children].map((li) => ({ text: li.dataset.text, ok: li.className === "ok", file: li.dataset.file }));
    try { sessionStorage.setItem(KEY, JSON.stringify(rows)); } catch (e) { /* storage off: stays until reload */ }
  }

  // A dispute's page named in a notice (/disputes/N) becomes a link that says "dispute #N" in her language.
  function words(span, text) {
    let at = 0;
    for (const m of text.matchAll(/\/disputes\/(\d+)/g)) {
      span.append(text.slice(at, m.index));
      const a = document.createElement("a");
      a.href = m[0];
      a.textContent = `${list.dataset.dispute || "#"} #${m[1]}`;
      span.append(a);
      at = m.index + m[0].length;
    }
    span.append(text.slice(at));
  }

  function show(text, ok, file) {
    const li = document.createElement("li");
    li.dataset.text = text;
    if (file) li.dataset.file = file;
    li.className = ok ? "ok" : "error";
    const span = document.createElement("span");
    const i = file ? text.indexOf(file) : -1;
    if (i >= 0) {  // her file's name is hers, in whatever script: marked as no words to translate
      words(span, text.slice(0, i));
      const name = document.createElement("bdi");
      name.translate = false;
      name.textContent = file;
      span.append(name);
      words(span, text.slice(i + file.length));
    } else {
      words(span, text);
    }
    span.append(" ");
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
    for (const r of JSON.parse(sessionStorage.getItem(KEY) || "[]")) show(r.text, r.ok, r.file);
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
        for (const r of body.results) show(!r.ok ? `✗ ${r.file}: ${r.error}` : r.notice ? `⚠ ${r.file} → #${r.work}: ${r.notice}` : `✓ ${r.file} → ${list.dataset.stored || "#"} #${r.work}`, r.ok && !r.notice, r.file);
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
