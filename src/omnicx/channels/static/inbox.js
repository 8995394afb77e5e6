/*! omnicx in-app inbox widget. Embed with one of:
 *   <script src="https://cx.example.com/inbox.js" data-app-token="TOKEN" async></script>
 *     a signed-in customer: the site's backend got TOKEN from POST /api/app-tokens
 *   <script src="https://cx.example.com/inbox.js" data-write-key="WRITE_KEY" async></script>
 *     an anonymous visitor, by the analytics.js anonymousId (a web-chat session)
 * Optional: data-title. It also offers window.omnicxInbox.enablePush("/sw.js"): subscribe
 * this browser to web push (the site's /sw.js imports https://cx.example.com/push/sw.js).
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.omnicxInbox) return;
  var base = new URL(script.src, location.href).origin;
  var appToken = script.getAttribute("data-app-token") || "";
  var writeKey = script.getAttribute("data-write-key") || "";
  var title = script.getAttribute("data-title") || "Messages";
  var chatToken = null;
  var POLL_MS = 30000;

  function anonymousId() {
    var id = null;
    try {
      id = JSON.parse(localStorage.getItem("ajs_anonymous_id") || "null");
    } catch (e) {}
    if (!id) {
      id = window.crypto && crypto.randomUUID ? crypto.randomUUID() : "v-" + Date.now().toString(36);
      try {
        localStorage.setItem("ajs_anonymous_id", JSON.stringify(id));
      } catch (e) {}
    }
    return String(id);
  }

  function session() {
    if (appToken || chatToken) return Promise.resolve();
    return fetch(base + "/chat/sessions", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: "Basic " + btoa(writeKey + ":") },
      body: JSON.stringify({ anonymousId: anonymousId() })
    })
      .then(function (r) { return r.json(); })
      .then(function (body) { chatToken = body.token; });
  }

  function headers() {
    var h = { "Content-Type": "application/json" };
    if (appToken) h["X-App-Token"] = appToken;
    else {
      h.Authorization = "Basic " + btoa(writeKey + ":");
      h["X-Chat-Token"] = chatToken || "";
    }
    return h;
  }

  function call(method, path, body) {
    return session().then(function () {
      return fetch(base + path, {
        method: method,
        headers: headers(),
        body: body ? JSON.stringify(body) : undefined
      }).then(function (r) {
        if (r.status === 401 && !appToken) chatToken = null;
        if (r.status === 204) return null;
        return r.json();
      });
    });
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    for (var key in attrs) node.setAttribute(key, attrs[key]);
    if (text) node.textContent = text;
    return node;
  }

  var style = el("style", {});
  style.textContent =
    ".ocx-ib{position:fixed;left:20px;bottom:20px;z-index:2147483000;padding:10px 16px;border:0;" +
    "border-radius:22px;background:#1f4fd1;color:#fff;font:600 14px system-ui;cursor:pointer}" +
    ".ocx-ib:focus-visible,.ocx-ip li:focus-visible{outline:3px solid #f5a623;outline-offset:2px}" +
    ".ocx-ip{position:fixed;left:20px;bottom:70px;z-index:2147483000;width:320px;max-width:calc(100vw - 40px);" +
    "max-height:60vh;overflow-y:auto;background:#fff;color:#111;border:1px solid #ccd;border-radius:12px;" +
    "box-shadow:0 8px 30px rgba(0,0,0,.2);font:14px system-ui}.ocx-ip[hidden]{display:none}" +
    ".ocx-ip h2{margin:0;padding:10px 14px;font-size:16px;border-bottom:1px solid #eee}" +
    ".ocx-ip ul{list-style:none;margin:0;padding:0}.ocx-ip li{padding:10px 14px;border-bottom:1px solid #f0f0f0;cursor:pointer}" +
    ".ocx-ip li.ocx-new{background:#eef3ff}.ocx-ip li strong{display:block}.ocx-ip p{margin:8px 14px;color:#555}";
  document.head.appendChild(style);

  var button = el("button", { type: "button", class: "ocx-ib", "aria-expanded": "false" }, title);
  var panel = el("section", { class: "ocx-ip", hidden: "", "aria-label": title });
  var heading = el("h2", {}, title);
  var list = el("ul", {});
  panel.appendChild(heading);
  panel.appendChild(list);

  function render(body) {
    var unread = body && typeof body.unread === "number" ? body.unread : 0;
    button.textContent = unread ? title + " (" + unread + ")" : title;
    list.textContent = "";
    var messages = (body && body.messages) || [];
    if (!messages.length) {
      list.appendChild(el("p", {}, "No messages yet."));
      return;
    }
    messages.forEach(function (m) {
      var item = el("li", { tabindex: "0", class: m.read_at ? "" : "ocx-new" });
      if (m.title) item.appendChild(el("strong", {}, m.title));
      item.appendChild(el("span", {}, m.text));
      function open() {
        call("POST", "/inapp/messages/" + encodeURIComponent(m.id) + "/clicked").then(refresh);
      }
      item.addEventListener("click", open);
      item.addEventListener("keydown", function (e) {
        if (e.key === "Enter") open();
      });
      list.appendChild(item);
    });
  }

  function refresh() {
    return call("GET", "/inapp/messages?limit=50").then(render).catch(function () {});
  }

  button.addEventListener("click", function () {
    var open = panel.hasAttribute("hidden");
    if (open) panel.removeAttribute("hidden");
    else panel.setAttribute("hidden", "");
    button.setAttribute("aria-expanded", String(open));
    if (open) refresh();
  });

  function enablePush(workerUrl) {
    if (!("serviceWorker" in navigator) || !("PushManager" in window)) {
      return Promise.reject(new Error("this browser has no web push"));
    }
    return fetch(base + "/push/vapid-public-key")
      .then(function (r) { return r.json(); })
      .then(function (body) {
        var raw = atob(body.key.replace(/-/g, "+").replace(/_/g, "/"));
        var key = new Uint8Array(raw.length);
        for (var i = 0; i < raw.length; i++) key[i] = raw.charCodeAt(i);
        return navigator.serviceWorker.register(workerUrl).then(function (registration) {
          return registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
        });
      })
      .then(function (subscription) {
        return call("POST", "/push/subscriptions", { subscription: subscription.toJSON() });
      });
  }

  window.omnicxInbox = { refresh: refresh, enablePush: enablePush };
  document.body.appendChild(button);
  document.body.appendChild(panel);
  refresh();
  setInterval(refresh, POLL_MS);
})();
