// App Manager settings page: edit the app's viewers, co-owners and portal settings, and
// save them with PATCH /api/apps/<slug>. The API checks everything again and its error
// messages are shown as they come.
(function () {
  "use strict";
  var form = document.getElementById("app-form");
  if (!form) return;
  var slug = form.getAttribute("data-slug");
  var suggestUrl = form.getAttribute("data-suggest");
  var statusBox = document.getElementById("save-status");
  var tokenMeta = document.querySelector('meta[name="csrf-token"]');
  var saved = JSON.parse(document.getElementById("app-data").textContent);
  var lists = {};  // "viewers.users" -> array of names being edited
  var unknownBox = document.getElementById("unknown-grants");
  // Granted names Keycloak does not know (yet): {"users": [...], "groups": [...], "message"}.
  var unknown = JSON.parse(document.getElementById("unknown-data").textContent);

  function show(kind, text) {
    statusBox.className = "notice notice-" + kind;
    statusBox.textContent = text;
    statusBox.hidden = false;
  }

  function normalize(kind, value) {
    value = value.trim();
    if (!value) return "";
    if (kind === "user") return value.toLowerCase();
    return "/" + value.split("/").filter(Boolean).join("/");
  }

  function renderChips(picker) {
    var id = picker.getAttribute("data-field") + "." + picker.getAttribute("data-key");
    var box = picker.querySelector(".chips");
    var editable = !!picker.querySelector("input");
    box.textContent = "";
    if (!lists[id].length) {
      var none = document.createElement("span");
      none.className = "empty";
      none.textContent = "none";
      box.appendChild(none);
    }
    lists[id].forEach(function (name) {
      var chip = document.createElement("span");
      chip.className = "chip";
      chip.textContent = name;
      if ((unknown[picker.getAttribute("data-key")] || []).indexOf(name) !== -1) {
        var flag = document.createElement("span");
        flag.className = "badge badge-muted";
        flag.textContent = picker.getAttribute("data-kind") === "user" ? "not yet signed in" : "unknown group";
        chip.appendChild(document.createTextNode(" "));
        chip.appendChild(flag);
      }
      if (editable) {
        var remove = document.createElement("button");
        remove.type = "button";
        remove.setAttribute("aria-label", "Remove " + name);
        remove.textContent = "×";
        remove.addEventListener("click", function () {
          lists[id] = lists[id].filter(function (n) { return n !== name; });
          renderChips(picker);
        });
        chip.appendChild(remove);
      }
      box.appendChild(chip);
    });
  }

  function load(app) {
    saved = app;
    document.querySelectorAll(".picker").forEach(function (picker) {
      var field = picker.getAttribute("data-field"), key = picker.getAttribute("data-key");
      lists[field + "." + key] = (app[field] && app[field][key] || []).slice();
      renderChips(picker);
    });
    form.querySelectorAll("input[name=access]").forEach(function (r) { r.checked = r.value === app.access; });
    form.elements.visible_in_portal.checked = !!app.visible_in_portal;
    form.elements.title.value = app.title;
    form.elements.description.value = app.description || "";
    form.elements.tags.value = (app.tags || []).join(", ");
    // Keep the page heading in step with what was saved.
    document.getElementById("app-title").textContent = app.title;
    var radio = form.querySelector('input[name=access][value="' + app.access + '"]');
    var badge = document.querySelector("#access-badge .badge");
    if (radio && badge) {
      badge.className = "badge badge-" + app.access;
      badge.textContent = radio.closest("label").querySelector("strong").textContent;
    }
  }

  document.querySelectorAll(".picker").forEach(function (picker) {
    var input = picker.querySelector("input");
    if (!input) return;
    var kind = picker.getAttribute("data-kind");
    var id = picker.getAttribute("data-field") + "." + picker.getAttribute("data-key");
    var datalist = picker.querySelector("datalist");
    var timer = null;
    function add() {
      var name = normalize(kind, input.value);
      if (name && lists[id].indexOf(name) === -1) lists[id].push(name);
      input.value = "";
      renderChips(picker);
    }
    picker.querySelector("[data-add]").addEventListener("click", add);
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); add(); }
    });
    input.addEventListener("input", function () {
      clearTimeout(timer);
      var q = input.value.trim();
      if (!q) return;
      timer = setTimeout(function () {
        fetch(suggestUrl + "?kind=" + kind + "&q=" + encodeURIComponent(q), { credentials: "same-origin" })
          .then(function (r) { return r.json(); })
          .then(function (data) {
            datalist.textContent = "";
            (data.suggestions || []).forEach(function (name) {
              var option = document.createElement("option");
              option.value = name;
              datalist.appendChild(option);
            });
          })
          .catch(function () { /* suggestions are a convenience: typing still works */ });
      }, 200);
    });
  });

  // After a save: ask again which granted names Keycloak does not know.
  function checkNames() {
    return fetch(unknownBox.getAttribute("data-url"), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return;
        unknown = data;
        unknownBox.textContent = data.message;
        unknownBox.hidden = !data.message;
        load(saved);
      })
      .catch(function () { /* the warning is a convenience: saving worked */ });
  }

  function same(a, b) { return JSON.stringify(a) === JSON.stringify(b); }
  function sorted(list) { return list.slice().sort(); }

  function changes() {
    var body = {};
    var access = form.querySelector("input[name=access]:checked");
    if (access && !access.disabled && access.value !== saved.access) body.access = access.value;
    ["viewers", "co_owners"].forEach(function (field) {
      var users = lists[field + ".users"], groups = lists[field + ".groups"];
      if (!users) return;
      var next = { users: sorted(users), groups: sorted(groups) };
      var before = { users: sorted(saved[field].users), groups: sorted(saved[field].groups) };
      if (!same(next, before)) body[field] = next;
    });
    if (!form.elements.title.disabled) {
      var tags = form.elements.tags.value.split(",").map(function (t) { return t.trim(); }).filter(Boolean);
      if (form.elements.visible_in_portal.checked !== saved.visible_in_portal) body.visible_in_portal = form.elements.visible_in_portal.checked;
      if (form.elements.title.value.trim() !== saved.title) body.title = form.elements.title.value.trim();
      if (form.elements.description.value !== (saved.description || "")) body.description = form.elements.description.value;
      if (!same(tags, saved.tags || [])) body.tags = tags;
    }
    return body;
  }

  form.addEventListener("reset", function (event) {
    event.preventDefault();
    load(saved);
    statusBox.hidden = true;
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var body = changes();
    if (!Object.keys(body).length) { show("info", "Nothing to save: no setting changed."); return; }
    var button = document.getElementById("save");
    button.disabled = true;
    fetch("/api/apps/" + encodeURIComponent(slug), {
      method: "PATCH",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRF-Token": tokenMeta ? tokenMeta.content : ""
      },
      body: JSON.stringify(body)
    })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          if (!response.ok) throw new Error(data.error || ("The server answered HTTP " + response.status + "."));
          return data;
        });
      })
      .then(function (data) {
        load(data.app || data);
        show("ok", "Saved.");
        return checkNames();
      })
      .catch(function (error) { show("error", error.message || "Saving failed."); })
      .then(function () { button.disabled = false; });
  });

  load(saved);
})();
