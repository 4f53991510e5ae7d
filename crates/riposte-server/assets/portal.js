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
