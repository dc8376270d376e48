// certwatch console: what the pages that decide share (the queue's
// console.js and the detail page's detail.js load after it; the bulk
// decision's confirm step loads it alone): keys, and sending a decision once.
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
  // A decision is sent once per page: a second submit of a POST form before
  // the next page has loaded (c pressed twice, a double click) is dropped,
  // and the page says it is sending (#sending). A page brought back by the
  // browser's back button may send again.
  function sendOnce() {
    var sent = false;
    var sending = document.getElementById("sending");
    document.addEventListener("submit", function (e) {
      if ((e.target.method || "").toLowerCase() !== "post") { return; }
      if (sent) { e.preventDefault(); return; }
      sent = true;
      if (sending) { sending.hidden = false; }
    });
    window.addEventListener("pageshow", function (e) {
      if (e.persisted) { sent = false; if (sending) { sending.hidden = true; } }
    });
  }
  sendOnce();
  return { ignored: ignored, reasonField: reasonField };
})();
