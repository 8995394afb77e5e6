// omnicx console, the conversation page: canned responses fill the reply box, and
// keys: "r" goes to the reply, "n" to the internal note. No build step.
(function () {
  "use strict";

  function cannedPickers() {
    Array.prototype.slice.call(document.querySelectorAll("form[data-canned-for]")).forEach(function (form) {
      var select = form.querySelector("select");
      var target = document.getElementById(form.getAttribute("data-canned-for"));
      if (!select || !target) { return; }
      function insert() {
        var option = select.options[select.selectedIndex];
        var text = option ? option.getAttribute("data-text") : null;
        if (!text) { return false; }
        target.value = target.value ? target.value.replace(/\s+$/, "") + "\n\n" + text : text;
        target.focus();
        select.selectedIndex = 0;
        if (window.omnicx && window.omnicx.announce) { window.omnicx.announce(option.textContent); }
        return true;
      }
      select.addEventListener("change", insert);
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        insert();
      });
    });
  }

  function keys() {
    document.addEventListener("keydown", function (event) {
      var target = event.target;
      var typing = target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT" || target.isContentEditable);
      if (typing || event.altKey || event.ctrlKey || event.metaKey) { return; }
      var field = null;
      if (event.key === "r") { field = document.getElementById("reply-text"); }
      if (event.key === "n") { field = document.getElementById("note-text"); }
      if (field) { event.preventDefault(); field.focus(); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    cannedPickers();
    keys();
  });
})();
