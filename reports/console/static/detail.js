// certwatch console: keys on a finding's or site's detail page.
// c 确认并下一条, d 排除 (focus the reason; Enter submits), r 移交公安,
// u 撤回, j/n next and k/p previous in the queue the reviewer came from,
// q back to the queue, ? help. Loaded as a file (the CSP forbids inline script).
(function () {
  "use strict";
  var form = document.getElementById("decide");
  var note = document.getElementById("note");
  var help = document.getElementById("shortcut-help");
  var toggle = document.getElementById("help-toggle");

  function press(id) {
    var btn = document.getElementById(id);
    if (btn && form) { form.requestSubmit(btn); return true; }
    return false;
  }
  function go(id) {
    var link = document.getElementById(id);
    if (link && link.href) { window.location.href = link.href; }
  }
  function showHelp(show) {
    if (!help) { return; }
    help.hidden = !show;
    if (toggle) { toggle.setAttribute("aria-expanded", show ? "true" : "false"); }
  }
  if (toggle) { toggle.addEventListener("click", function () { showHelp(help.hidden); }); }
  window.certwatchKeys.reasonField(note, function () { press("act-dismiss"); });
  document.addEventListener("keydown", function (e) {
    if (window.certwatchKeys.ignored(e)) { return; }
    switch (e.key) {
      case "c": press("act-confirm-next"); break;
      case "r": press("act-refer"); break;
      case "u":               // the item just decided (named at the top), else this one
        var last = document.getElementById("act-undo-last");
        if (last) { last.form.requestSubmit(last); } else { press("act-undo"); }
        break;
      case "d": if (note) { e.preventDefault(); note.focus(); } break;
      case "j": case "n": go("next-item"); break;
      case "k": case "p": go("prev-item"); break;
      case "q": go("back-to-queue"); break;
      case "?": showHelp(help && help.hidden); break;
      case "Escape": showHelp(false); break;
      default: return;
    }
  });
})();
