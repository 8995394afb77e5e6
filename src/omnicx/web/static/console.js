// omnicx console: live updates over the /api/stream server-sent events, CSRF for fetch,
// keyboard navigation of lists, and confirmations. No build step.
(function () {
  "use strict";
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";

  function announce(text) {
    var region = document.getElementById("announcer");
    if (region) { region.textContent = ""; window.setTimeout(function () { region.textContent = text; }, 50); }
  }

  // Fetch with the session cookie and the CSRF header (for calls to /api that change things).
  window.omnicx = {
    fetch: function (url, options) {
      options = options || {};
      options.credentials = "same-origin";
      options.headers = Object.assign({ "X-CSRF-Token": csrf }, options.headers || {});
      return window.fetch(url, options);
    },
    announce: announce
  };

  // Live regions: <div data-live-src="/inbox/rows?..." data-live-types="message.received,..."
  // data-live-conversation="id">. Any matching stream event reloads the region's fragment.
  function liveRegions() {
    var regions = Array.prototype.slice.call(document.querySelectorAll("[data-live-src]"));
    if (!regions.length || !window.EventSource) { return; }
    var types = {};
    regions.forEach(function (region) {
      (region.getAttribute("data-live-types") || "").split(",").forEach(function (t) { if (t) { types[t] = true; } });
    });
    var url = "/api/stream" + (Object.keys(types).length ? "?types=" + Object.keys(types).join(",") : "");
    var source = new EventSource(url);
    var timers = new WeakMap();
    function reload(region) {
      if (timers.get(region)) { return; }
      timers.set(region, window.setTimeout(function () {
        timers.delete(region);
        window.fetch(region.getAttribute("data-live-src"), { credentials: "same-origin", headers: { "Accept": "text/html" } })
          .then(function (response) { return response.ok ? response.text() : null; })
          .then(function (html) {
            if (html === null) { return; }
            var focused = document.activeElement && region.contains(document.activeElement) ? document.activeElement.id : null;
            region.innerHTML = html;
            if (focused && document.getElementById(focused)) { document.getElementById(focused).focus(); }
            var note = region.getAttribute("data-live-announce");
            if (note) { announce(note); }
            region.dispatchEvent(new CustomEvent("omnicx:updated", { bubbles: true }));
          });
      }, 250));
    }
    function handle(event) {
      var data = {};
      try { data = JSON.parse(event.data || "{}"); } catch (e) { data = {}; }
      regions.forEach(function (region) {
        var wanted = (region.getAttribute("data-live-types") || "").split(",");
        if (wanted[0] && wanted.indexOf(event.type) < 0) { return; }
        var conversation = region.getAttribute("data-live-conversation");
        if (conversation && data.conversation_id && data.conversation_id !== conversation &&
            (data.conversation_ids || []).indexOf(conversation) < 0) { return; }
        reload(region);
      });
    }
    Object.keys(types).forEach(function (t) { source.addEventListener(t, handle); });
    source.addEventListener("lagged", function () { regions.forEach(reload); });
    document.documentElement.setAttribute("data-live", "connecting");
    // News sent while the stream was (re)connecting is not replayed: reload what it shows.
    source.onopen = function () {
      document.documentElement.setAttribute("data-live", "open");
      regions.forEach(reload);
    };
    source.onerror = function () { document.documentElement.setAttribute("data-live", "retrying"); };
  }

  // Keyboard: in a list marked data-keys, j/k or arrow keys move between rows, Enter opens;
  // "/" focuses the page's search box.
  function keyboard() {
    document.addEventListener("keydown", function (event) {
      var target = event.target;
      var typing = target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT" || target.isContentEditable);
      if (event.key === "/" && !typing) {
        var search = document.querySelector("[data-search]");
        if (search) { event.preventDefault(); search.focus(); }
        return;
      }
      if (typing || event.altKey || event.ctrlKey || event.metaKey) { return; }
      var list = document.querySelector("[data-keys]");
      if (!list) { return; }
      var rows = Array.prototype.slice.call(list.querySelectorAll("[data-row]"));
      if (!rows.length) { return; }
      var current = rows.findIndex(function (row) { return row.contains(document.activeElement); });
      var next = null;
      if (event.key === "j" || event.key === "ArrowDown") { next = Math.min(rows.length - 1, current + 1); }
      if (event.key === "k" || event.key === "ArrowUp") { next = Math.max(0, current - 1); }
      if (next !== null) {
        event.preventDefault();
        var link = rows[next].querySelector("a");
        (link || rows[next]).focus();
      }
    });
  }

  function confirmations() {
    document.addEventListener("submit", function (event) {
      var message = event.target.getAttribute && event.target.getAttribute("data-confirm");
      if (message && !window.confirm(message)) { event.preventDefault(); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    liveRegions();
    keyboard();
    confirmations();
  });
})();
