// App Manager: "Follow" streams an app's log (GET /api/apps/<slug>/logs?follow=1) into the
// page until pressed again. The text is appended as text, never as HTML.
(function () {
  var button = document.getElementById("log-follow");
  var pre = document.getElementById("log-text");
  if (!button || !pre) return;
  var controller = null;
  button.addEventListener("click", function () {
    if (controller) {
      controller.abort();
      controller = null;
      button.textContent = "Follow";
      return;
    }
    controller = new AbortController();
    button.textContent = "Stop following";
    fetch(button.dataset.url, { signal: controller.signal, credentials: "same-origin" })
      .then(function (response) {
        var reader = response.body.getReader();
        var decoder = new TextDecoder();
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) return;
            pre.appendChild(document.createTextNode(decoder.decode(chunk.value, { stream: true })));
            pre.scrollTop = pre.scrollHeight;
            return pump();
          });
        }
        return pump();
      })
      .catch(function () { /* stopped, or the stream ended */ })
      .then(function () { controller = null; button.textContent = "Follow"; });
  });
})();
