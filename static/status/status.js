/* Crashbot status page: relative times, and a self-refresh with conditional requests.
 *
 * Every `data-refresh-seconds` the page asks the server for itself with the ETag it was
 * rendered with (If-None-Match). Unchanged data costs the server one small query and a
 * 304; on change, the new page's <main> replaces the old one without a reload.
 */
(function () {
  "use strict";

  var UNITS = [["year", 31536000], ["month", 2592000], ["day", 86400], ["hour", 3600], ["minute", 60]];
  var rtf = window.Intl && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }) : null;

  function relative(date) {
    var seconds = (date.getTime() - Date.now()) / 1000;
    for (var i = 0; i < UNITS.length; i++) {
      if (Math.abs(seconds) >= UNITS[i][1] || UNITS[i][0] === "minute") {
        var value = Math.round(seconds / UNITS[i][1]);
        if (UNITS[i][0] === "minute" && Math.abs(seconds) < 60) return "just now";
        return rtf ? rtf.format(value, UNITS[i][0]) : date.toLocaleString();
      }
    }
    return date.toLocaleString();
  }

  function duration(ms) {
    var minutes = Math.floor(ms / 60000);
    var days = Math.floor(minutes / 1440), hours = Math.floor((minutes % 1440) / 60), mins = minutes % 60;
    if (days) return days + " d" + (hours ? " " + hours + " h" : "");
    if (hours) return hours + " h" + (mins ? " " + mins + " min" : "");
    return mins ? mins + " min" : "under a minute";
  }

  function renderTimes(root) {
    root.querySelectorAll("time[data-relative]").forEach(function (el) {
      var date = new Date(el.getAttribute("datetime"));
      if (isNaN(date)) return;
      el.textContent = relative(date);
      el.title = date.toLocaleString() + " (" + el.getAttribute("datetime") + ")";
    });
    root.querySelectorAll("[data-since]").forEach(function (el) {
      var since = new Date(el.getAttribute("data-since"));
      if (!isNaN(since)) el.textContent = duration(Date.now() - since.getTime());
    });
  }

  var lastRefresh = Date.now();

  function markRefreshed(root) {
    lastRefresh = Date.now();
    root.querySelectorAll("[data-refreshed]").forEach(function (el) { el.textContent = "just now"; });
  }

  function refresh(live) {
    if (document.hidden) return Promise.resolve();
    var etag = live.getAttribute("data-etag");
    var headers = { Accept: "text/html" };
    if (etag) headers["If-None-Match"] = etag;
    return fetch(window.location.href, { headers: headers, cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        if (response.status === 304) { markRefreshed(live); return null; }
        if (!response.ok) return null;
        return response.text();
      })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("live");
        if (!fresh) return;
        live.innerHTML = fresh.innerHTML;
        live.setAttribute("data-etag", fresh.getAttribute("data-etag") || "");
        document.title = doc.title;
        live.classList.remove("flash");
        void live.offsetWidth;
        live.classList.add("flash");
        renderTimes(live);
        markRefreshed(live);
      })
      .catch(function () { /* offline or server busy: keep showing what we have */ });
  }

  function start() {
    var live = document.getElementById("live");
    if (!live) return;
    renderTimes(document);
    var seconds = parseFloat(live.getAttribute("data-refresh-seconds"));
    if (!(seconds > 0)) return;
    window.setInterval(function () { refresh(live); }, seconds * 1000);
    window.setInterval(function () {
      renderTimes(live);
      live.querySelectorAll("[data-refreshed]").forEach(function (el) {
        el.textContent = relative(new Date(lastRefresh));
      });
    }, 15000);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(live); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
