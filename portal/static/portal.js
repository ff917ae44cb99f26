// Portal: filter the app cards as you type or pick a tag (the server does the same
// with ?q= and ?tag= when JavaScript is off).
(function () {
  "use strict";
  var form = document.getElementById("portal-filter");
  var cards = Array.prototype.slice.call(document.querySelectorAll("#cards .card"));
  var empty = document.getElementById("no-match");
  if (!form || !cards.length) return;
  var input = form.querySelector("input[name=q]");
  var params = new URLSearchParams(location.search);
  var tag = (params.get("tag") || "").toLowerCase();

  function apply() {
    var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    cards.forEach(function (card) {
      var text = card.getAttribute("data-search");
      var tags = card.getAttribute("data-tags").split("|");
      var ok = (!tag || tags.indexOf(tag) !== -1) &&
        words.every(function (w) { return text.indexOf(w) !== -1; });
      card.hidden = !ok;
      if (ok) shown += 1;
    });
    if (empty) {
      empty.hidden = shown > 0;
      empty.querySelector("p").textContent = "No app matches this search.";
    }
    form.querySelectorAll(".tag-filter .tag").forEach(function (el) {
      el.classList.toggle("active", (el.getAttribute("data-tag") || "").toLowerCase() === tag);
    });
    var query = new URLSearchParams();
    if (input.value.trim()) query.set("q", input.value.trim());
    if (tag) query.set("tag", tag);
    var qs = query.toString();
    history.replaceState(null, "", location.pathname + (qs ? "?" + qs : ""));
  }

  input.addEventListener("input", apply);
  form.addEventListener("submit", function (event) { event.preventDefault(); apply(); });
  document.addEventListener("click", function (event) {
    var el = event.target.closest("[data-tag]");
    if (!el) return;
    event.preventDefault();
    var picked = (el.getAttribute("data-tag") || "").toLowerCase();
    tag = picked === tag && el.closest(".card") ? "" : picked;
    apply();
  });
  apply();
})();
