/* The sync job page's progress bar: polls the job's progress.json and updates the bar in place.
   Ours, vendored with the project (no library, no CDN). Polls every 2 s while a run is running
   and for the first 30 s after the page loads (a run just queued by "Run now" starts then),
   every 15 s otherwise (a schedule may start one), and stops after an hour without a run. */
(function () {
  "use strict";

  var FAST_MS = 2000;
  var SLOW_MS = 15000;
  var IDLE_LIMIT_MS = 3600 * 1000;
  var EAGER_MS = 30000;

  function text(box, selector, value) {
    var node = box.querySelector(selector);
    if (node) { node.textContent = value; }
  }

  function render(box, payload) {
    var p = payload.progress;
    if (!p) { return false; }
    var track = box.querySelector("[role=progressbar]");
    var fill = box.querySelector(".ops-progress-fill");
    var known = p.percent !== null && p.percent !== undefined;
    if (track) {
      track.classList.toggle("ops-progress-unknown", !known);
      if (known) { track.setAttribute("aria-valuenow", String(p.percent)); }
      else { track.removeAttribute("aria-valuenow"); }
    }
    if (fill) { fill.style.width = (known ? p.percent : 0) + "%"; }
    var succeeded = p.status === "succeeded" || p.status === "partial";
    box.classList.toggle("ops-progress-done", succeeded);
    box.classList.toggle("ops-progress-failed", !p.running && !succeeded);
    text(box, ".ops-progress-percent", known ? p.percent + "%" : "\u2026");
    text(box, ".ops-progress-summary", p.summary);
    text(box, ".ops-progress-phase", p.phase);
    text(box, ".ops-progress-status", p.status_label);
    text(box, ".ops-progress-run-id", String(p.run_id));
    text(box, ".ops-progress-title", p.running ? "Current run" : "Latest run");
    var error = box.querySelector(".ops-progress-error");
    if (error) {
      error.hidden = !p.error_message;
      text(box, ".ops-progress-error-message", p.error_message);
      text(box, ".ops-progress-error-fix", p.error_fix);
    }
    return p.running;
  }

  function start(box) {
    var url = box.getAttribute("data-url");
    var wasRunning = box.getAttribute("data-running") === "1";
    var runId = box.getAttribute("data-run");
    var loadedAt = Date.now();
    var idleSince = loadedAt;

    function schedule(ms) { window.setTimeout(poll, ms); }

    function poll() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" }, cache: "no-store" })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (payload) {
          if (!payload) { schedule(SLOW_MS); return; }
          var newRun = payload.progress && String(payload.progress.run_id) !== runId;
          if (newRun && !box.querySelector("[role=progressbar]")) {
            window.location.reload();  // the first run started: the page has no bar to update yet
            return;
          }
          var running = render(box, payload);
          if (running) {
            idleSince = Date.now();
          } else if (wasRunning || newRun) {
            var finished = box.querySelector(".ops-progress-finished");
            if (finished) { finished.hidden = false; }
          }
          wasRunning = running;
          if (payload.progress) { runId = String(payload.progress.run_id); }
          if (running || Date.now() - loadedAt < EAGER_MS) { schedule(FAST_MS); }
          else if (Date.now() - idleSince < IDLE_LIMIT_MS) { schedule(SLOW_MS); }
        })
        .catch(function () { schedule(SLOW_MS); });
    }

    schedule(FAST_MS);
  }

  function init() {
    var box = document.getElementById("run-progress");
    if (box && box.getAttribute("data-url") && window.fetch) { start(box); }
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); }
  else { init(); }
}());
