/*! omnicx web push, for the site's own service worker. In /sw.js (served by the site):
 *   importScripts("https://cx.example.com/push/sw.js");
 * It shows each notification omnicx sends, and reports receipts: "delivered" when the push
 * arrives, "clicked" when the notification is clicked (then opens its `url`, if any) and
 * "dismissed" when it is closed. Receipts carry the token signed for that message only.
 */
(function () {
  "use strict";

  function report(data, event) {
    if (!data || !data.receipt || !data.receipt_url) return Promise.resolve();
    return fetch(data.receipt_url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: data.receipt, event: event }),
      keepalive: true
    }).catch(function () {});
  }

  self.addEventListener("push", function (event) {
    var data = {};
    try {
      data = event.data ? event.data.json() : {};
    } catch (e) {
      data = { title: "", body: event.data ? event.data.text() : "" };
    }
    event.waitUntil(
      self.registration
        .showNotification(data.title || "", {
          body: data.body || "",
          data: data,
          tag: data.message_id || undefined
        })
        .then(function () {
          return report(data, "delivered");
        })
    );
  });

  self.addEventListener("notificationclick", function (event) {
    var data = event.notification.data || {};
    event.notification.close();
    var work = [report(data, "clicked")];
    if (data.url && self.clients && self.clients.openWindow) work.push(self.clients.openWindow(data.url));
    event.waitUntil(Promise.all(work));
  });

  self.addEventListener("notificationclose", function (event) {
    event.waitUntil(report(event.notification.data || {}, "dismissed"));
  });
})();
