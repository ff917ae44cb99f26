// Admin → Apps: a row's Transfer button with no new owner typed yet picks that row and
// asks for the owner, instead of letting the browser complain about an empty field.
(function () {
  "use strict";
  var form = document.getElementById("bulk-transfer");
  if (!form) return;
  var owner = document.getElementById("new-owner");
  form.addEventListener("click", function (event) {
    var button = event.target.closest("button[name=only]");
    if (!button || owner.value.trim()) return;
    event.preventDefault();
    form.querySelectorAll("input[name=slug]").forEach(function (box) {
      box.checked = box.value === button.value;
    });
    owner.placeholder = "new owner of " + button.value;
    owner.focus();
    owner.scrollIntoView({ behavior: "smooth", block: "center" });
  });
})();
