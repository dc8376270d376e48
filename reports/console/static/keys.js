// certwatch console: what the two keyboard pages share (the queue's
// console.js and the detail page's detail.js load after it).
// Loaded as a file (the CSP forbids inline script). No dependencies.
window.certwatchKeys = (function () {
  "use strict";
  // A key typed into a form field, or held with a modifier, is no shortcut.
  function ignored(e) {
    var tag = (e.target.tagName || "").toUpperCase();
    var type = (e.target.type || "").toLowerCase();
    var typing = tag === "SELECT" || tag === "TEXTAREA" ||
      (tag === "INPUT" && type !== "checkbox" && type !== "radio" && type !== "button" && type !== "submit");
    return e.ctrlKey || e.metaKey || e.altKey || typing;
  }
  // The dismissal reason: Enter submits the dismissal, Escape leaves the field.
  function reasonField(note, dismiss) {
    if (!note) { return; }
    note.addEventListener("keydown", function (e) {
      if (e.key === "Enter") { e.preventDefault(); dismiss(); }
      if (e.key === "Escape") { note.blur(); }
    });
  }
  return { ignored: ignored, reasonField: reasonField };
})();
