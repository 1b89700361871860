// The cutover cockpit's live view: renders each queue's figures from the staff-only JSON
// endpoint and fetches it again every 2 s. Plain JavaScript, no build step.
// A column is one entry of COLUMNS: a title and a function of (backend view, alias, queue view).
(function () {
  "use strict";
  var root = document.getElementById("tb-cockpit");
  if (!root) return;
  var LIVE_URL = root.getAttribute("data-live-url");
  var EVERY_MS = 2000;

  function text(value) { return document.createTextNode(value === null || value === undefined ? "" : String(value)); }
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) { node.appendChild(typeof c === "object" ? c : text(c)); });
    return node;
  }
  function seconds(s) {
    if (s === null || s === undefined) return "—";
    if (s < 90) return Math.round(s) + " s";
    if (s < 5400) return Math.round(s / 60) + " min";
    return (s / 3600).toFixed(1) + " h";
  }

  // Ended jobs per minute (grey) with the failed part (red), oldest minute first.
  function chart(done, failed) {
    var ns = "http://www.w3.org/2000/svg", w = 6, gap = 2, h = 24;
    var max = Math.max.apply(null, done.concat([1]));
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("width", done.length * (w + gap));
    svg.setAttribute("height", h);
    svg.setAttribute("class", "tb-chart");
    done.forEach(function (n, i) {
      [[n, "tb-done"], [failed[i], "tb-failed"]].forEach(function (bar) {
        if (!bar[0]) return;
        var r = document.createElementNS(ns, "rect"), bh = Math.max(1, Math.round(bar[0] / max * h));
        r.setAttribute("x", i * (w + gap)); r.setAttribute("y", h - bh);
        r.setAttribute("width", w); r.setAttribute("height", bh); r.setAttribute("class", bar[1]);
        svg.appendChild(r);
      });
    });
    var title = document.createElementNS(ns, "title");
    title.textContent = "ended per minute, oldest first: " + done.join(" ") + "; failed: " + failed.join(" ");
    svg.appendChild(title);
    return svg;
  }

  function workers(list) {
    if (!list.length) return el("span", {"class": "tb-none"}, ["no live worker"]);
    return el("ul", {"class": "tb-workers"}, list.map(function (w) {
      return el("li", {title: w.name}, [el("strong", {}, [w.label]), " " + w.queues.join(", ")]);
    }));
  }

  // The guard's window on one backend: outcomes, success rate and p95 run time.
  function guardFigures(q, alias) {
    if (!q.guard || !q.guard.running) return "guard not running";
    var f = q.guard.figures[alias];
    if (!f || !f.finished) return "no jobs in the window";
    var rate = f.success_rate === null ? "" : ", " + (f.success_rate * 100).toFixed(1) + "% ok";
    return f.succeeded + " ok / " + f.failed + " failed" + rate + (f.run_p95_ms === null ? "" : ", p95 " + Math.round(f.run_p95_ms) + " ms");
  }

  var COLUMNS = [
    {title: "backend", cell: function (b, alias) { return alias; }},
    {title: "queued", cell: function (b) { return b.counts.queued; }},
    {title: "scheduled", cell: function (b) { return b.counts.scheduled; }},
    {title: "running", cell: function (b) { return b.counts.started; }},
    {title: "retrying", cell: function (b) { return b.counts.retrying; }},
    {title: "succeeded", cell: function (b) { return b.counts.succeeded; }},
    {title: "failed", cell: function (b) { return b.counts.failed; }},
    {title: "cancelled", cell: function (b) { return b.counts.cancelled; }},
    {title: "backlog (oldest)", cell: function (b) { return b.backlog + (b.backlog ? " (" + seconds(b.oldest_seconds) + ")" : ""); }},
    {title: "ended / failed per min", cell: function (b) { return chart(b.done_per_minute, b.failed_per_minute); }},
    {title: "live workers (host:pid, queues)", cell: function (b) { return workers(b.workers); }},
    {title: "guard window", cell: function (b, alias, q) { return guardFigures(q, alias); }},
  ];

  function verdict(g) {
    if (!g.running) return "guard not running";
    var said = g.verdict || "no verdict yet";
    if (g.regression) return said + ", REGRESSION: " + g.reasons.join("; ");
    return said + (g.reasons.length ? " (" + g.reasons.join("; ") + ")" : "");
  }

  function ramp(g) {
    var r = g.ramp;
    if (!r) return "no ramp";
    return "ramp " + r.state + ", step " + r.step + "/" + r.steps.length + " (" + r.share + "%) of " +
      r.steps.join(", ") + "%; each step held " + seconds(r.hold_seconds) + " and " + r.hold_jobs + " jobs; " + r.reason +
      (r.state === "running" && !g.running ? " (stands still: guard not running)" : "");
  }

  // Pause only a running ramp, resume only a paused or rolled-back one.
  function rampButtons(section, g) {
    var state = g.ramp ? g.ramp.state : null;
    section.querySelectorAll("button[name=ramp]").forEach(function (button) {
      button.hidden = (button.value === "pause" && state !== "running") ||
        (button.value === "resume" && state !== "paused" && state !== "rolled-back");
    });
  }

  function lastChange(change) {
    if (!change) return "never changed";
    return "last changed " + change.when + " by " + (change.who || "nobody known") + " from " + change.origin +
      " (" + change.from_route + " → " + change.to_route + ")" + (change.forced ? ", FORCED past the interlock" : "") +
      (change.reason ? ": " + change.reason : "");
  }

  function render(data) {
    document.getElementById("tb-age").textContent = data.figures_age === null
      ? "figures are being gathered" : "figures " + seconds(data.figures_age) + " old, " + data.jobs_scanned + " job records read";
    document.getElementById("tb-guard").textContent = data.guard.running
      ? "The guard is running (" + data.guard.holder + ", last look " + seconds(data.guard.age) + " ago)."
      : "Guard not running: no canary is rolled back by itself and no ramp advances (start it: manage.py taskbridge guard).";
    data.queues.forEach(function (q) {
      var section = document.getElementById("tb-queue-" + q.queue);
      if (!section) return;
      section.querySelector("[data-field=route]").textContent = q.route;
      var said = section.querySelector("[data-field=verdict]");
      said.textContent = verdict(q.guard);
      said.className = q.guard.regression ? "tb-regression" : "";
      section.querySelector("[data-field=ramp]").textContent = ramp(q.guard);
      rampButtons(section, q.guard);
      section.querySelector("[data-field=last]").textContent = lastChange(q.last_change);
      var head = section.querySelector("thead tr"), body = section.querySelector("tbody");
      head.replaceChildren.apply(head, COLUMNS.map(function (c) { return el("th", {}, [c.title]); }));
      var rows = Object.keys(q.backends).map(function (alias) {
        var b = q.backends[alias];
        return el("tr", {"data-backend": alias}, COLUMNS.map(function (c) {
          var value = c.cell(b, alias, q);
          return el("td", {}, [value instanceof Node ? value : text(value)]);
        }));
      });
      body.replaceChildren.apply(body, rows);
    });
    root.setAttribute("data-refreshed", String(Date.now()));
  }

  function poll() {
    fetch(LIVE_URL, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(render)
      .catch(function (e) { document.getElementById("tb-age").textContent = "refresh failed (" + e.message + "), retrying"; })
      .then(function () { setTimeout(poll, EVERY_MS); });
  }

  render(JSON.parse(document.getElementById("tb-initial").textContent));
  setTimeout(poll, EVERY_MS);
})();
