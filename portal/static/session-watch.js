// Injected by the front door into app pages: when the session ends while an app is open,
// Dash's requests start getting 401/403; tell the person instead of leaving a page that
// silently stopped updating.
(function () {
  var original = window.fetch;
  function notice(text, link) {
    if (document.getElementById("platform-session-notice")) return;
    var box = document.createElement("div");
    box.id = "platform-session-notice";
    box.setAttribute("role", "alert");
    box.style.cssText = "position:fixed;top:0;left:0;right:0;z-index:99999;padding:12px 16px;" +
      "background:#1f2937;color:#fff;font:15px system-ui,sans-serif;text-align:center";
    box.textContent = text + " ";
    if (link) {
      var a = document.createElement("a");
      a.href = link; a.textContent = "Sign in again"; a.style.color = "#93c5fd";
      box.appendChild(a);
    }
    document.body.appendChild(box);
  }
  window.fetch = function () {
    return original.apply(this, arguments).then(function (response) {
      if (String(response.url).indexOf("/_dash-") !== -1) {
        if (response.status === 401) {
          notice("You have been signed out.",
                 "/login?next=" + encodeURIComponent(location.pathname + location.search));
        } else if (response.status === 403) {
          notice("You no longer have access to this app.", null);
        }
      }
      return response;
    });
  };
})();
