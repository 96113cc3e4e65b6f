/* Crashbot status page: relative times beside absolute ones, keyboard/touch day bars, and a
 * self-refresh with conditional requests.
 *
 * Every `data-refresh-seconds` the page asks the server for itself. The first refresh learns
 * the ETag from the response (the page's bytes never carry it); later ones send it
 * (If-None-Match), so unchanged data costs the server one small query and a 304. On change
 * the new content replaces the old without a reload, keyboard focus stays where it was, and
 * screen readers hear a polite announcement (aria-live).
 */
(function () {
  "use strict";

  var UNITS = [["year", 31536000], ["month", 2592000], ["day", 86400], ["hour", 3600], ["minute", 60]];
  var rtf = window.Intl && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat("en", { numeric: "auto" }) : null;

  function relative(date) {
    var seconds = (date.getTime() - Date.now()) / 1000;
    if (Math.abs(seconds) < 60) return "just now";
    for (var i = 0; i < UNITS.length; i++) {
      if (Math.abs(seconds) >= UNITS[i][1]) {
        var value = Math.round(seconds / UNITS[i][1]);
        return rtf ? rtf.format(value, UNITS[i][0]) : "";
      }
    }
    return "";
  }

  function duration(ms) {
    var minutes = Math.floor(ms / 60000);
    var days = Math.floor(minutes / 1440), hours = Math.floor((minutes % 1440) / 60), mins = minutes % 60;
    if (days) return days + " d" + (hours ? " " + hours + " h" : "");
    if (hours) return hours + " h" + (mins ? " " + mins + " min" : "");
    return mins ? mins + " min" : "under a minute";
  }

  function renderTimes(root) {
    root.querySelectorAll("[data-ago]").forEach(function (el) {
      var date = new Date(el.getAttribute("data-ago"));
      if (!isNaN(date)) el.textContent = relative(date);
    });
    root.querySelectorAll("[data-since]").forEach(function (el) {
      var since = new Date(el.getAttribute("data-since"));
      if (!isNaN(since)) el.textContent = duration(Date.now() - since.getTime());
    });
  }

  /* Day bars: one tab stop per strip, arrow keys (and Home/End) move between days; the focused
   * or tapped day's details show under the strip. */
  function showBar(bar) {
    var item = bar.closest(".component");
    var detail = item && item.querySelector("[data-bar-detail]");
    if (detail) detail.textContent = bar.getAttribute("data-tip") || "";
  }

  function moveFocus(bar, step) {
    var bars = Array.prototype.filter.call(bar.parentNode.children, function (b) { return b.offsetParent !== null; });
    var index = bars.indexOf(bar);
    var next = step === "first" ? bars[0] : step === "last" ? bars[bars.length - 1] : bars[index + step];
    if (!next) return;
    bar.setAttribute("tabindex", "-1");
    next.setAttribute("tabindex", "0");
    next.focus();
  }

  function wireBars(root) {
    root.addEventListener("keydown", function (event) {
      var bar = event.target.closest && event.target.closest(".uptime .bar");
      if (!bar) return;
      var step = { ArrowLeft: -1, ArrowRight: 1, Home: "first", End: "last" }[event.key];
      if (step === undefined) return;
      event.preventDefault();
      moveFocus(bar, step);
    });
    root.addEventListener("focusin", function (event) {
      var bar = event.target.closest && event.target.closest(".uptime .bar");
      if (bar) showBar(bar);
    });
    root.addEventListener("click", function (event) {
      var bar = event.target.closest && event.target.closest(".uptime .bar");
      if (bar) { bar.focus(); showBar(bar); }
    });
  }

  var etag = null;
  var shownHtml = null;
  var lastRefresh = Date.now();

  function markRefreshed(root) {
    lastRefresh = Date.now();
    root.querySelectorAll("[data-refreshed-wrap]").forEach(function (el) { el.hidden = false; });
    root.querySelectorAll("[data-refreshed]").forEach(function (el) { el.textContent = "just now"; });
  }

  function focusPath(live) {
    var el = document.activeElement;
    if (!el || !live.contains(el) || el === live) return null;
    var component = el.closest("[data-component]");
    var index = el.parentNode ? Array.prototype.indexOf.call(el.parentNode.children, el) : -1;
    return { id: el.id, component: component && component.getAttribute("data-component"), isBar: el.classList.contains("bar"), index: index, href: el.getAttribute("href") };
  }

  function restoreFocus(live, path) {
    if (!path) return;
    var target = null;
    if (path.id) target = document.getElementById(path.id);
    if (!target && path.isBar && path.component) {
      var strip = live.querySelector('[data-component="' + path.component + '"] .uptime');
      if (strip) target = strip.children[path.index];
      if (target) {
        strip.querySelectorAll('.bar[tabindex="0"]').forEach(function (b) { b.setAttribute("tabindex", "-1"); });
        target.setAttribute("tabindex", "0");
      }
    }
    if (!target && path.href) target = live.querySelector('a[href="' + path.href + '"]');
    if (target) target.focus({ preventScroll: true });
  }

  function refresh(live) {
    if (document.hidden) return Promise.resolve();
    var headers = { Accept: "text/html" };
    if (etag) headers["If-None-Match"] = etag;
    return fetch(window.location.href, { headers: headers, cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        if (response.status === 304) { markRefreshed(live); return null; }
        if (!response.ok) return null;
        etag = response.headers.get("ETag");
        return response.text();
      })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("live");
        if (!fresh) return;
        if (fresh.innerHTML === shownHtml) { markRefreshed(live); return; }
        var path = focusPath(live);
        shownHtml = fresh.innerHTML;
        live.innerHTML = fresh.innerHTML;
        document.title = doc.title;
        live.classList.remove("flash");
        void live.offsetWidth;
        live.classList.add("flash");
        renderTimes(live);
        markRefreshed(live);
        restoreFocus(live, path);
        var status = document.getElementById("live-status");
        var title = live.querySelector("#banner-title, h1");
        if (status) status.textContent = "Updated: " + (title ? title.textContent.trim() : doc.title);
      })
      .catch(function () { /* offline or server busy: keep showing what we have */ });
  }

  function start() {
    var live = document.getElementById("live");
    if (!live) return;
    shownHtml = live.innerHTML;
    renderTimes(document);
    wireBars(live);
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
