// Resumable video upload: the file goes in chunks (PUT /api/video-uploads/<id>?offset=N); the upload's id
// is kept in localStorage under the file's name, size and date, so after a reload or a dropped connection
// choosing the same file asks the server how much it holds and sends only the rest. Plain JS, no build.
(function () {
  const form = document.getElementById("video-form");
  if (!form) return;
  const input = document.getElementById("video-file");
  const bar = document.getElementById("video-progress");
  const status = document.getElementById("video-status");
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const chunk = Number(form.dataset.chunk);
  const say = (key, fields) => {
    let text = form.dataset[key] || key;
    for (const [k, v] of Object.entries(fields || {})) text = text.split(`{${k}}`).join(v);
    return text;
  };
  const mb = (n) => `${(n / 1048576).toFixed(1)} MB`;
  const keyOf = (f) => `fairtrain-video:${f.name}:${f.size}:${f.lastModified}`;

  function show(text, kind) {
    status.textContent = text;
    status.className = kind || "";
  }

  async function refused(r) {
    let body = {};
    try { body = await r.json(); } catch (e) { /* not JSON */ }
    show(`✗ ${body.message || body.detail || r.statusText}`, "error");
  }

  async function api(method, url, body, type) {
    const headers = { "X-CSRF-Token": csrf };
    if (type) headers["Content-Type"] = type;
    return fetch(url, { method, headers, body, credentials: "same-origin" });
  }

  async function upload(file) {
    if (file.size > Number(form.dataset.max)) {
      show(`✗ ${say("tooBig", { name: file.name, cap: form.dataset.cap })}`, "error");
      return;
    }
    const key = keyOf(file);
    let id = localStorage.getItem(key);
    let offset = 0;
    if (id) {
      const r = await api("GET", `/api/video-uploads/${id}`);
      if (r.ok) {
        offset = (await r.json()).offset;
        if (offset > 0) show(say("resumed", { done: mb(offset), total: mb(file.size) }));
        document.body.dataset.resumedAt = String(offset);
      } else {
        id = null;
      }
    }
    if (!id) {
      const r = await api("POST", "/api/video-uploads",
        JSON.stringify({ name: file.name, size: file.size, title: document.getElementById("video-title").value }),
        "application/json");
      if (!r.ok) return refused(r);
      id = (await r.json()).id;
      localStorage.setItem(key, id);
    }
    bar.hidden = false;
    let retries = 0;
    while (offset < file.size) {
      bar.value = Math.floor(100 * offset / file.size);
      let r;
      try {
        r = await api("PUT", `/api/video-uploads/${id}?offset=${offset}`, file.slice(offset, offset + chunk),
          "application/octet-stream");
      } catch (e) {
        if (retries++ < 2) { await new Promise((ok) => setTimeout(ok, 400 * retries)); continue; }
        show(`✗ ${say("dropped")}`, "error");
        return;
      }
      if (r.status === 409 && r.headers.get("Upload-Offset")) { offset = Number(r.headers.get("Upload-Offset")); continue; }
      if (!r.ok) return refused(r);
      retries = 0;
      offset = (await r.json()).offset;
      if (!document.body.dataset.resumedAt || offset > Number(document.body.dataset.resumedAt)) {
        show(say("sent", { done: mb(offset), total: mb(file.size) }));
      }
    }
    bar.value = 100;
    show(say("fingerprinting"));
    const r = await api("POST", `/api/video-uploads/${id}/finish`);
    if (!r.ok) return refused(r);
    // Fingerprinting runs on the server in the background (minutes for a long programme): ask until done.
    let st = await r.json();
    while (st.state === "fingerprinting" || st.state === "complete") {
      await new Promise((ok) => setTimeout(ok, 1000));
      // "complete" again: the server restarted meanwhile, so the registration is asked for again
      const g = await api(st.state === "complete" ? "POST" : "GET",
        st.state === "complete" ? `/api/video-uploads/${id}/finish` : `/api/video-uploads/${id}`);
      if (!g.ok) return refused(g);
      st = await g.json();
    }
    localStorage.removeItem(key);
    const w = st.result || {};
    if (!w.ok) { show(`✗ ${w.message || w.detail || st.state}`, "error"); return; }
    show(`✓ ${say("registered", { work: w.work, title: w.title })}`, "ok");
    status.dataset.work = String(w.work);
  }

  input.addEventListener("change", () => { if (input.files.length) upload(input.files[0]); });
})();
