// Backprop Lab: keyboard shortcuts and small enhancements. No eval, no inline handlers.
(function () {
  "use strict";
  var KEYS = { f: "forward", b: "backward", u: "update", s: "step", e: "epoch",
               t: "train", r: "reset", z: "undo", y: "redo" };

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
    // Ctrl+Z / Ctrl+Y (⌘ on a Mac): undo / redo, except while typing in a field.
    if ((ev.ctrlKey || ev.metaKey) && !ev.altKey && !ev.defaultPrevented && !typing(ev.target)) {
      var k = ev.key.toLowerCase();
      if ((k === "z" && press("undo")) || (k === "y" && press("redo"))) ev.preventDefault();
      return;
    }
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

  // Share panel: copy the setup link; read a chosen lesson file into the paste box.
  document.addEventListener("click", function (ev) {
    var b = ev.target && ev.target.closest ? ev.target.closest("button[data-copy]") : null;
    if (!b) return;
    var input = document.getElementById(b.getAttribute("data-copy"));
    if (!input) return;
    input.select();
    if (navigator.clipboard) navigator.clipboard.writeText(input.value).catch(function () {});
    b.setAttribute("data-copied", "1");
  });
  document.addEventListener("change", function (ev) {
    var f = ev.target;
    if (!f || !f.classList || !f.classList.contains("lesson-file") || !f.files.length) return;
    var into = document.getElementById(f.getAttribute("data-into"));
    var reader = new FileReader();
    reader.onload = function () { if (into) into.value = reader.result; };
    reader.readAsText(f.files[0]);
  });
})();
