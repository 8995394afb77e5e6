/* omnicx console: draws each report's charts with plotly.js (served by omnicx). A chart's
   figure is in its data-figure attribute; once drawn it is marked data-rendered. */
(function () {
  "use strict";

  function draw(element) {
    var figure;
    try {
      figure = JSON.parse(element.getAttribute("data-figure"));
    } catch (error) {
      element.setAttribute("data-rendered", "failed");
      return;
    }
    var config = { displayModeBar: false, responsive: true };
    window.Plotly.newPlot(element, figure.data, figure.layout, config).then(
      function () { element.setAttribute("data-rendered", "true"); },
      function () { element.setAttribute("data-rendered", "failed"); }
    );
  }

  function start() {
    if (!window.Plotly) {
      return;
    }
    Array.prototype.forEach.call(document.querySelectorAll(".chart[data-figure]"), draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
