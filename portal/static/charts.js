// Draws the charts of a page: each <div class="plotly-chart"> is followed by its figure
// as a JSON data block (portal/pages/charts.py). No inline script: the portal's
// Content-Security-Policy allows scripts from the portal only.
(function () {
  document.querySelectorAll("script.plotly-figure").forEach(function (data) {
    var target = data.previousElementSibling;
    if (!target || !target.classList.contains("plotly-chart")) return;
    var figure = JSON.parse(data.textContent);
    Plotly.newPlot(target, figure.data, figure.layout, { displaylogo: false, responsive: true });
  });
})();
