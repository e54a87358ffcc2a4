// Search as you type for the slot form's programme list. Without this script the "Find" form
// does the same by a page load; with it, the list is refilled from the server as you type.
(function () {
  "use strict";
  var form = document.querySelector("form.find-programme[data-search]");
  var select = document.getElementById("programme_id");
  if (!form || !select || !window.fetch) return;
  var input = form.querySelector("input[type=search]");
  var hint = form.querySelector(".hint");
  var timer = null;
  var asked = 0;

  function refill(items, hintText) {
    var chosen = select.value;
    // Keep the programme the editor picked; the one a list merely starts on is not a choice.
    var keep = select.dataset.picked && select.selectedOptions.length ? select.selectedOptions[0].cloneNode(true) : null;
    select.textContent = "";
    var seen = false;
    items.forEach(function (item) {
      var option = document.createElement("option");
      option.value = String(item.id);
      option.textContent = item.label;
      if (option.value === chosen) { option.selected = true; seen = true; }
      select.appendChild(option);
    });
    if (keep && !seen && chosen) select.insertBefore(keep, select.firstChild);
    if (hint && hintText) hint.textContent = hintText;
  }

  function search() {
    var query = input.value.trim();
    var mine = ++asked;
    fetch(form.dataset.search + "?find=" + encodeURIComponent(query), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data && mine === asked) refill(data.items, data.hint); })
      .catch(function () { /* the Find button still works */ });
  }

  select.addEventListener("change", function () { select.dataset.picked = "1"; });
  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(search, 200);
  });
  input.setAttribute("autocomplete", "off");
  input.setAttribute("aria-controls", "programme_id");
})();
