/*! omnicx web chat widget. Embed with:
 *   <script src="https://cx.example.com/widget.js" data-write-key="WRITE_KEY" async></script>
 * Optional attributes: data-title, data-greeting, data-email (a known visitor's address).
 * The visitor is the analytics.js anonymousId (localStorage or cookie `ajs_anonymous_id`),
 * so browsing and chat join one customer profile.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__omnicxChat) return;
  window.__omnicxChat = true;
  var base = new URL(script.src, location.href).origin;
  var writeKey = script.getAttribute("data-write-key") || "";
  var title = script.getAttribute("data-title") || "Chat with us";
  var greeting = script.getAttribute("data-greeting") || "Hello! How can we help?";
  var email = script.getAttribute("data-email") || "";
  var auth = "Basic " + btoa(writeKey + ":");
  var STORE = "omnicx_chat";

  function readCookie(name) {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var at = parts[i].indexOf("=");
      if (parts[i].slice(0, at) === name) return decodeURIComponent(parts[i].slice(at + 1));
    }
    return null;
  }

  function unquote(value) {
    if (!value) return null;
    try {
      var parsed = JSON.parse(value);
      return typeof parsed === "string" ? parsed : String(parsed);
    } catch (e) {
      return value;
    }
  }

  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "v-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }

  function anonymousId() {
    var id = null;
    try {
      id = unquote(localStorage.getItem("ajs_anonymous_id"));
    } catch (e) {}
    id = id || unquote(readCookie("ajs_anonymous_id"));
    if (!id) {
      id = newId();
      try {
        localStorage.setItem("ajs_anonymous_id", JSON.stringify(id));
      } catch (e) {}
      document.cookie =
        "ajs_anonymous_id=" + encodeURIComponent(JSON.stringify(id)) +
        "; path=/; max-age=31536000; SameSite=Lax";
    }
    return id;
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    for (var key in attrs) node.setAttribute(key, attrs[key]);
    if (text) node.textContent = text;
    return node;
  }

  var style = el("style", {});
  style.textContent =
    ".ocx-b{position:fixed;right:20px;bottom:20px;z-index:2147483000;padding:12px 18px;" +
    "border:0;border-radius:24px;background:#1f4fd1;color:#fff;font:600 15px system-ui;cursor:pointer}" +
    ".ocx-b:focus-visible,.ocx-p button:focus-visible,.ocx-p textarea:focus-visible{outline:3px solid #f5a623;outline-offset:2px}" +
    ".ocx-p{position:fixed;right:20px;bottom:76px;z-index:2147483000;width:340px;max-width:calc(100vw - 40px);" +
    "height:460px;max-height:calc(100vh - 100px);display:flex;flex-direction:column;background:#fff;color:#111;" +
    "border:1px solid #ccd;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.2);font:14px system-ui}" +
    ".ocx-p[hidden]{display:none}.ocx-h{display:flex;justify-content:space-between;align-items:center;" +
    "padding:10px 14px;border-bottom:1px solid #eee}.ocx-h h2{margin:0;font-size:16px}" +
    ".ocx-h button{border:0;background:none;font-size:20px;cursor:pointer}" +
    ".ocx-l{flex:1;overflow-y:auto;padding:10px 14px;list-style:none;margin:0}" +
    ".ocx-l li{margin:6px 0;padding:8px 10px;border-radius:10px;max-width:85%;white-space:pre-wrap;word-wrap:break-word}" +
    ".ocx-l .ocx-in{background:#e8eefc;margin-left:auto}.ocx-l .ocx-out{background:#f1f1f1}" +
    ".ocx-f{display:flex;gap:6px;padding:10px;border-top:1px solid #eee}" +
    ".ocx-f textarea{flex:1;resize:none;font:inherit;padding:6px}.ocx-f button{padding:6px 12px}" +
    ".ocx-s{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}";
  document.head.appendChild(style);

  var button = el("button", {
    type: "button",
    class: "ocx-b",
    "aria-expanded": "false",
    "aria-controls": "ocx-panel",
  }, title);
  var panel = el("section", {
    id: "ocx-panel",
    class: "ocx-p",
    role: "dialog",
    "aria-labelledby": "ocx-title",
    hidden: "",
  });
  var header = el("div", { class: "ocx-h" });
  header.appendChild(el("h2", { id: "ocx-title" }, title));
  var close = el("button", { type: "button", "aria-label": "Close chat" }, "\u00d7");
  header.appendChild(close);
  var log = el("ol", { class: "ocx-l", role: "log", "aria-live": "polite", "aria-label": "Messages" });
  var form = el("form", { class: "ocx-f" });
  var label = el("label", { for: "ocx-text", class: "ocx-s" }, "Your message");
  var input = el("textarea", { id: "ocx-text", rows: "2", maxlength: "5000", required: "" });
  var send = el("button", { type: "submit" }, "Send");
  var status = el("p", { class: "ocx-s", role: "status", "aria-live": "polite" });
  form.appendChild(label);
  form.appendChild(input);
  form.appendChild(send);
  panel.appendChild(header);
  panel.appendChild(log);
  panel.appendChild(form);
  panel.appendChild(status);
  document.body.appendChild(button);
  document.body.appendChild(panel);

  var shown = {};
  var session = null;
  var source = null;

  function show(id, direction, text) {
    if (id && shown[id]) return;
    if (id) shown[id] = true;
    var item = el("li", { class: direction === "inbound" ? "ocx-in" : "ocx-out" });
    var who = el("span", { class: "ocx-s" }, direction === "inbound" ? "You: " : "Agent: ");
    item.appendChild(who);
    item.appendChild(document.createTextNode(text || ""));
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
  }

  function request(path, body) {
    var headers = { "Content-Type": "application/json", Authorization: auth };
    if (session) headers["X-Chat-Token"] = session.token;
    return fetch(base + path, { method: "POST", headers: headers, body: JSON.stringify(body) })
      .then(function (response) {
        return response.json().then(function (data) {
          if (!response.ok) throw new Error((data.error && data.error.message) || response.status);
          return data;
        });
      });
  }

  function start() {
    try {
      var kept = JSON.parse(sessionStorage.getItem(STORE) || "null");
      if (kept && Date.parse(kept.expires_at) > Date.now() + 60000) session = kept;
    } catch (e) {}
    var ready = session
      ? Promise.resolve(session)
      : request("/chat/sessions", { anonymousId: anonymousId(), email: email || undefined })
          .then(function (data) {
            session = data;
            try {
              sessionStorage.setItem(STORE, JSON.stringify(data));
            } catch (e) {}
            return data;
          });
    return ready.then(listen);
  }

  function listen() {
    if (source) return;
    var url = base + "/chat/stream?key=" + encodeURIComponent(writeKey) +
      "&token=" + encodeURIComponent(session.token);
    source = new EventSource(url);
    source.addEventListener("message", function (event) {
      var message = JSON.parse(event.data);
      show(message.id, message.direction, message.text);
    });
    source.addEventListener("expired", function () {
      source.close();
      source = null;
      session = null;
      sessionStorage.removeItem(STORE);
      start();
    });
  }

  function open() {
    panel.hidden = false;
    button.setAttribute("aria-expanded", "true");
    if (!log.childNodes.length) show(null, "outbound", greeting);
    input.focus();
    start().catch(function (error) {
      status.textContent = "Chat is unavailable: " + error.message;
    });
  }

  function hide() {
    panel.hidden = true;
    button.setAttribute("aria-expanded", "false");
    button.focus();
  }

  button.addEventListener("click", function () {
    if (panel.hidden) open();
    else hide();
  });
  close.addEventListener("click", hide);
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") hide();
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    var clientId = newId();
    send.disabled = true;
    start()
      .then(function () {
        return request("/chat/messages", { text: text, clientMessageId: clientId, page: location.href });
      })
      .then(function (data) {
        input.value = "";
        show(data.message_id, "inbound", text);
        status.textContent = "Message sent";
      })
      .catch(function (error) {
        status.textContent = "Not sent: " + error.message;
      })
      .then(function () {
        send.disabled = false;
        input.focus();
      });
  });
})();
