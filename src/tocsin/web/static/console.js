/* Tocsin console: live countdowns, and <main> re-fetched when the server says it changed.
 *
 * - Every [data-due] element counts down each second ("in 12 min" / "overdue by 3 min"),
 *   measured against the server's clock (from <main data-now>), not the browser's.
 * - Pages with <main data-live="topic"> listen to /console/live (server-sent events). On each
 *   "changed" event they re-fetch <main data-refresh> and swap <main> in place, unless a form
 *   field in it has focus or has been changed: then the swap waits until it is free, so
 *   nothing typed is lost. A browser without EventSource re-fetches every 15 s instead.
 * - Without JavaScript everything still works; a reload shows the same page.
 */
(function () {
  "use strict";

  var REFRESH_MS = 15000; // only where EventSource is missing
  var RETRY_MS = 1000; // a change waiting for a form to be free is retried this often
  var pending = false;
  var main = document.getElementById("main");
  var offset = 0; // server time minus browser time, in ms

  if (!main) return;

  if (main.dataset.reopen) {
    // Reached from another site, so the SameSite=Strict cookie was held back: reopen from here.
    window.location.replace(main.dataset.reopen);
    return;
  }

  function syncClock() {
    var server = Date.parse(main.dataset.now || "");
    if (!isNaN(server)) offset = server - Date.now();
  }

  function span(seconds) {
    var s = Math.floor(Math.abs(seconds));
    if (s < 60) return s + " s";
    var minutes = Math.floor(s / 60), hours = Math.floor(s / 3600), days = Math.floor(s / 86400);
    if (hours < 1) return minutes + " min";
    if (days < 1) return hours + " h" + (minutes % 60 ? " " + (minutes % 60) + " min" : "");
    return days + " d" + (hours % 24 ? " " + (hours % 24) + " h" : "");
  }

  function setPhase(clock, phase) {
    if (!clock || clock.classList.contains("phase-" + phase)) return;
    clock.classList.remove("phase-pending", "phase-warning", "phase-overdue");
    clock.classList.add("phase-" + phase);
  }

  function tick() {
    var now = Date.now() + offset;
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var due = Date.parse(el.dataset.due);
      if (isNaN(due)) return;
      var seconds = (due - now) / 1000;
      var fires = el.hasAttribute("data-fires"); // an escalation step fires; it is never overdue
      if (seconds >= 0) el.textContent = "in " + span(seconds);
      else el.textContent = fires ? "firing now" : "overdue by " + span(seconds);
      var warn = Date.parse(el.dataset.warn || "");
      var phase = seconds < 0 && !fires ? "overdue" : !isNaN(warn) && now >= warn ? "warning" : "pending";
      setPhase(el.closest(".clock"), phase);
    });
  }

  function selectChanged(select) {
    var initial = 0;
    for (var i = 0; i < select.options.length; i++) {
      if (select.options[i].defaultSelected) initial = i;
    }
    return select.selectedIndex !== initial;
  }

  function fieldChanged(field) {
    if (field.type === "hidden") return false;
    if (field.tagName === "SELECT") return selectChanged(field);
    if (field.type === "checkbox" || field.type === "radio") return field.checked !== field.defaultChecked;
    return field.value !== field.defaultValue;
  }

  function busy() {
    var active = document.activeElement;
    if (active && main.contains(active) && active.matches("input, select, textarea")) return true;
    var fields = main.querySelectorAll("input, select, textarea");
    for (var i = 0; i < fields.length; i++) {
      if (fieldChanged(fields[i])) return true;
    }
    return false;
  }

  function report(text, stale) {
    var status = document.getElementById("live-status");
    if (!status) return;
    status.textContent = text;
    status.classList.toggle("is-stale", !!stale);
  }

  function swap(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var fresh = doc.getElementById("main");
    if (!fresh || busy()) { pending = true; return; } // someone started typing meanwhile
    var open = Array.prototype.map.call(main.querySelectorAll("details[open][id]"), function (d) { return d.id; });
    main.innerHTML = fresh.innerHTML;
    open.forEach(function (id) { var d = document.getElementById(id); if (d) d.open = true; });
    main.dataset.now = fresh.dataset.now || "";
    document.title = doc.title;
    syncClock();
    tick();
    report("Live: updated " + new Date().toLocaleTimeString());
  }

  function refresh() {
    var url = main.dataset.refresh;
    if (!url) return;
    if (document.hidden || busy()) { pending = true; return; }
    pending = false;
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (response.redirected && new URL(response.url).pathname === "/console/login") {
          window.location.assign(response.url); // signed out or token revoked
          return null;
        }
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) { if (html !== null) swap(html); })
      .catch(function () {
        report("Offline: could not refresh at " + new Date().toLocaleTimeString() + "; retrying", true);
      });
  }

  // One click, one submission: a double-click at 3 a.m. must not declare two incidents.
  document.addEventListener("submit", function (event) {
    var button = event.target.querySelector("button[type=submit]");
    if (button) window.setTimeout(function () { button.disabled = true; }, 0);
  });

  // Coming back to this page from history: its buttons must work again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("button[disabled]").forEach(function (button) { button.disabled = false; });
  });

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && pending) refresh();
  });

  function listen(topic) {
    var source = new EventSource("/console/live?topic=" + encodeURIComponent(topic));
    source.addEventListener("ready", function () { report("Live"); });
    source.addEventListener("changed", function () { refresh(); });
    source.addEventListener("signed-out", function () { source.close(); window.location.reload(); });
    source.onerror = function () {
      // EventSource reconnects by itself (sending Last-Event-ID, so a missed change is told).
      report("Offline: reconnecting…", true);
    };
    window.addEventListener("pagehide", function () { source.close(); });
  }

  syncClock();
  tick();
  window.setInterval(tick, 1000);
  if (main.dataset.live && window.EventSource) {
    listen(main.dataset.live);
    window.setInterval(function () { if (pending) refresh(); }, RETRY_MS);
  } else if (main.dataset.refresh) {
    window.setInterval(refresh, REFRESH_MS);
  }
})();
