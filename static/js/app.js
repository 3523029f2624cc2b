// Backprop Lab: keyboard shortcuts and small enhancements. No eval, no inline handlers.
(function () {
  "use strict";
  var KEYS = { f: "forward", b: "backward", u: "update", s: "step", e: "epoch",
               t: "train", r: "reset" };

  function typing(el) {
    if (!el) return false;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || el.isContentEditable;
  }

  function press(op) {
    var b = document.querySelector('.toolbar button[name="op"][value="' + op + '"]');
    if (b && !b.disabled) {
      // A key pressed right after a swap can beat htmx to the new form (it processes swapped
      // content when it settles); process it now so the press never falls back to a full post.
      if (window.htmx && b.form) window.htmx.process(b.form);
      b.click();
      return true;
    }
    return false;
  }

  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.defaultPrevented) return;
    var t = ev.target;
    // Space or Enter on an SVG node/edge (role=button) selects it, like a button.
    if ((ev.key === " " || ev.key === "Enter") && t && t.closest && t.closest("svg a[role=button]")) {
      ev.preventDefault();
      t.closest("svg a[role=button]").dispatchEvent(new MouseEvent("click", { bubbles: true, cancelable: true }));
      return;
    }
    if (typing(t)) return;
    if (t && t.tagName === "BUTTON" && (ev.key === " " || ev.key === "Enter")) return;
    var key = ev.key;
    if (key === "?") {
      var help = document.getElementById("help");
      if (help) { help.open = !help.open; if (help.open) help.querySelector("summary").focus(); }
      ev.preventDefault();
      return;
    }
    if (key === "Escape") {
      var h = document.getElementById("help");
      if (h && h.open) { h.open = false; ev.preventDefault(); }
      return;
    }
    if (key === " " || key === "p") {
      if (press("pause") || press("play")) ev.preventDefault();
      return;
    }
    if (key === "l") {
      var toggle = document.querySelector("#loss .toggle");
      if (toggle) { toggle.click(); ev.preventDefault(); }
      return;
    }
    var op = KEYS[key];
    if (op && press(op)) ev.preventDefault();
  });
})();
