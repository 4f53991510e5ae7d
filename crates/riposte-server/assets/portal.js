// riposte portal: follows a job's state live through the API's server-sent
// events until its final outcome, then reloads so the page shows the
// outcome and the evidence exactly as the server renders them.
"use strict";
(function () {
  const job = document.getElementById("job");
  if (!job || job.dataset.live !== "true") return;
  const state = document.getElementById("job-state");
  const timeline = document.getElementById("timeline");
  // The stream replays every event; the page already shows the first N.
  const shown = Number(job.dataset.events || "0");
  const source = new EventSource(`/api/v1/jobs/${job.dataset.id}/events`);
  const onEvent = (e) => {
    let data = {};
    try { data = JSON.parse(e.data); } catch (_) { return; }
    state.textContent = data.state || e.type;
    state.className = `pill state-${data.state || e.type}`;
    if (Number(e.lastEventId) >= shown) {
      const li = document.createElement("li");
      const time = document.createElement("span");
      time.className = "time";
      time.textContent = data.at || "";
      const pill = document.createElement("span");
      pill.className = `pill state-${data.state}`;
      pill.textContent = data.state;
      li.append(time, " ", pill, " ", data.phase ? `${data.phase} ` : "", data.message || "");
      timeline.append(li);
    }
    if (e.type === "finished") {
      source.close();
      window.location.reload();
    }
  };
  for (const name of ["queued", "running", "finished"]) source.addEventListener(name, onEvent);
  source.addEventListener("error", () => {
    // A closed stream after the outcome is normal; otherwise the browser retries.
    if (source.readyState === EventSource.CLOSED) window.location.reload();
  });
})();

// A bulk operation's progress: polls its JSON (the same endpoint the API
// documents) every second while it runs, and reloads when its state changes
// so the buttons match what may be done now.
(function () {
  const bulk = document.getElementById("bulk");
  if (!bulk || bulk.dataset.live !== "true") return;
  const set = (id, v) => { const el = document.getElementById(id); if (el) el.textContent = String(v); };
  const tick = async () => {
    let view;
    try {
      const r = await fetch(`/api/v1/bulk/${bulk.dataset.id}`, { credentials: "same-origin" });
      if (!r.ok) return;
      view = await r.json();
    } catch (_) { return; }
    const c = view.counts;
    document.getElementById("bulk-progress").value = c.finished;
    set("bulk-done", c.finished);
    for (const k of ["verified", "already", "ineffective", "denied", "failed", "running", "queued"]) set(`c-${k}`, c[k]);
    if (view.state !== bulk.dataset.state) window.location.reload();
  };
  setInterval(tick, 1000);
})();
