// certwatch console: keyboard and selection for the review queue.
// Loaded as a file (the CSP forbids inline script). No dependencies.
(function () {
  "use strict";
  var form = document.getElementById("bulk");
  if (!form) { return; }
  var rows = Array.prototype.slice.call(document.querySelectorAll("table.queue tr[data-item]"));
  var note = document.getElementById("note");
  var counter = document.getElementById("selected-count");
  var all = document.getElementById("select-all");
  var current = -1;

  function box(row) { return row.querySelector("input[name=items]"); }
  function checked() { return rows.filter(function (r) { var b = box(r); return b && b.checked; }); }
  function refresh() {
    rows.forEach(function (r) { var b = box(r); r.classList.toggle("selected", !!(b && b.checked)); });
    if (counter) { var n = checked().length; counter.textContent = n ? "已选 " + n + " 条" : ""; }
  }
  function move(i) {
    if (!rows.length) { return; }
    current = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach(function (r, j) { r.classList.toggle("current", j === current); });
    rows[current].scrollIntoView({block: "nearest"});
  }
  // With nothing ticked, an action applies to the current row only.
  function ensureTarget() {
    if (checked().length) { return true; }
    if (current < 0) { return false; }
    var b = box(rows[current]);
    if (!b) { return false; }
    b.checked = true;
    refresh();
    return true;
  }
  function act(id) {
    var btn = document.getElementById(id);
    if (btn && ensureTarget()) { form.requestSubmit(btn); }
  }

  form.addEventListener("change", refresh);
  if (all) {
    all.addEventListener("change", function () {
      rows.forEach(function (r) { var b = box(r); if (b) { b.checked = all.checked; } });
      refresh();
    });
  }
  rows.forEach(function (r, j) {
    r.addEventListener("click", function (e) { if (e.target.tagName !== "INPUT" && e.target.tagName !== "A") { move(j); } });
  });
  window.certwatchKeys.reasonField(note, function () { act("act-dismiss"); });
  document.addEventListener("keydown", function (e) {
    if (window.certwatchKeys.ignored(e)) { return; }
    if ((e.target.tagName || "").toUpperCase() === "INPUT" && e.key === "Enter") { return; }
    switch (e.key) {
      case "j": move(current + 1); break;
      case "k": move(current - 1); break;
      case "x": if (current >= 0) { var b = box(rows[current]); if (b) { b.checked = !b.checked; refresh(); } } break;
      case "o": case "Enter": if (current >= 0) { window.location.href = rows[current].getAttribute("data-href"); } break;
      case "c": act("act-confirm"); break;
      case "r": act("act-refer"); break;
      case "d": if (note && ensureTarget()) { e.preventDefault(); note.focus(); } break;
      default: return;
    }
  });
  refresh();
  if (rows.length) { move(0); }
})();
