// Backprop Lab: keyboard shortcuts, focus kept across htmx swaps, the diagram's arrow keys.
// No eval, no inline handlers.
(function () {
  "use strict";
  var KEYS = { f: "forward", b: "backward", u: "update", s: "step", e: "epoch",
               t: "train", r: "reset", z: "undo", y: "redo" };
  var STORE = "backprop-lab-shortcuts";

  function typing(el) {
    if (!el) return false;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || el.isContentEditable;
  }

  function shortcutsOn() {
    try { return window.localStorage.getItem(STORE) !== "off"; } catch (e) { return true; }
  }

  function setShortcuts(on) {
    try { window.localStorage.setItem(STORE, on ? "on" : "off"); } catch (e) { /* private mode */ }
    syncShortcutSwitch();
  }

  function syncShortcutSwitch() {
    var box = document.getElementById("shortcuts-on");
    if (!box) return;
    box.checked = shortcutsOn();
    var wrap = document.getElementById("shortcuts-setting");
    if (wrap) wrap.hidden = false;  // only useful (and shown) when this script runs
  }

  // A control that handles keys itself: shortcuts never fire while it has focus, except the
  // step toolbar's own buttons, where a letter has no other meaning (Space/Enter still press
  // the focused button natively).
  function ownsKeys(el, key) {
    if (!el || !el.closest) return false;
    if (el.isContentEditable) return true;
    var control = el.closest("input, select, textarea, summary, a[href], [role=switch], " +
                             "[role=button], [role=checkbox], button, [tabindex]:not([tabindex=\"-1\"])");
    if (!control || control === document.body) return false;
    if (control.tagName === "BUTTON" && control.closest(".toolbar") && key.length === 1 &&
        key !== " ") return false;
    return true;
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

  // Escape during a long training run presses its Cancel button (what was trained stays).
  function cancelRun() {
    var player = document.getElementById("player");
    var b = document.getElementById("run-cancel");
    if (!b || !player || !player.classList.contains("running")) return false;
    if (window.htmx && b.form) window.htmx.process(b.form);
    b.click();
    return true;
  }

  // --- the diagram: one tab stop, arrow keys move between neurons, biases and weights -------
  function items(svg) { return Array.prototype.slice.call(svg.querySelectorAll("a[data-col]")); }

  function moveTo(svg, target) {
    items(svg).forEach(function (a) { a.setAttribute("tabindex", a === target ? "0" : "-1"); });
    target.focus();
  }

  function arrow(svg, from, key) {
    var all = items(svg);
    var col = +from.getAttribute("data-col");
    var byCol = {};
    all.forEach(function (a) {
      var c = +a.getAttribute("data-col");
      (byCol[c] = byCol[c] || []).push(a);
    });
    Object.keys(byCol).forEach(function (c) {
      byCol[c].sort(function (x, y) { return x.getAttribute("data-row") - y.getAttribute("data-row"); });
    });
    var here = byCol[col];
    var i = here.indexOf(from);
    var cols = Object.keys(byCol).map(Number).sort(function (x, y) { return x - y; });
    if (key === "ArrowDown") return here[Math.min(i + 1, here.length - 1)];
    if (key === "ArrowUp") return here[Math.max(i - 1, 0)];
    if (key === "Home") return byCol[cols[0]][0];
    if (key === "End") { var last = byCol[cols[cols.length - 1]]; return last[last.length - 1]; }
    var k = cols.indexOf(col) + (key === "ArrowRight" ? 1 : -1);
    if (k < 0 || k >= cols.length) return from;
    var next = byCol[cols[k]];
    // Keep the relative position: row i of n maps to row round(i/(n-1)·(m-1)) of m.
    var j = here.length > 1 ? Math.round(i / (here.length - 1) * (next.length - 1)) : 0;
    return next[j];
  }

  function diagramKey(ev) {
    var t = ev.target;
    var a = t && t.closest && t.closest("svg.net a[data-col]");
    if (!a) return false;
    if (ev.key === " " || ev.key === "Enter") {
      ev.preventDefault();
      // Just swapped in, the link may not be htmx's yet (it processes new content when the
      // swap settles): process it now, or the click would load the whole page and drop focus.
      if (window.htmx) window.htmx.process(a);
      a.dispatchEvent(new MouseEvent("click", { bubbles: true, cancelable: true }));
      return true;
    }
    if (["ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "Home", "End"].indexOf(ev.key) >= 0) {
      ev.preventDefault();
      var svg = a.closest("svg");
      moveTo(svg, arrow(svg, a, ev.key));
      return true;
    }
    return false;
  }

  // --- role="switch" links (log scale, projector) toggle with Space, like a switch ---------
  function switchKey(ev) {
    var t = ev.target;
    if (ev.key !== " " || !t || !t.matches || !t.matches("a[role=switch]")) return false;
    ev.preventDefault();
    if (window.htmx && t.hasAttribute("hx-get")) window.htmx.process(t);  // as diagramKey
    t.click();  // htmx handles the log-scale switch without a reload; the projector one reloads
    return true;
  }

  document.addEventListener("keydown", function (ev) {
    // Ctrl+Z / Ctrl+Y (⌘ on a Mac): undo / redo, except while typing in a field.
    if ((ev.ctrlKey || ev.metaKey) && !ev.altKey && !ev.defaultPrevented && !typing(ev.target)) {
      var k = ev.key.toLowerCase();
      if ((k === "z" && press("undo")) || (k === "y" && press("redo"))) ev.preventDefault();
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.defaultPrevented) return;
    // Enter or Space on a button of a form just swapped in: let htmx process the form first
    // (it does so when the swap settles), so a fast key press never becomes a full-page post.
    var t0 = ev.target;
    if ((ev.key === "Enter" || ev.key === " ") && t0 && t0.tagName === "BUTTON" && window.htmx) {
      var owner = t0.hasAttribute("hx-post") ? t0
        : (t0.form && t0.form.hasAttribute("hx-post") ? t0.form : null);
      if (owner) window.htmx.process(owner);
    }
    if (diagramKey(ev) || switchKey(ev)) return;
    var key = ev.key;
    if (key === "Escape") {
      var h = document.getElementById("help");
      if (h && h.open) { h.open = false; h.querySelector("summary").focus(); ev.preventDefault(); }
      else if (cancelRun()) ev.preventDefault();
      return;
    }
    if (ownsKeys(ev.target, key) || !shortcutsOn()) return;
    if (key === "?") {
      var help = document.getElementById("help");
      if (help) { help.open = !help.open; if (help.open) help.querySelector("summary").focus(); }
      ev.preventDefault();
      return;
    }
    if (key === " " || key === "p") {
      if (press("pause") || press("play")) ev.preventDefault();
      return;
    }
    if (key === "l") {
      var toggle = document.getElementById("log-toggle");
      if (toggle) { toggle.click(); ev.preventDefault(); }
      return;
    }
    var op = KEYS[key];
    if (op && press(op)) ev.preventDefault();
  });

  // The projector switch: no reload with JS. Fetching its link sets the remembered cookie;
  // the class on <html> does the rest.
  document.addEventListener("click", function (ev) {
    var a = ev.target && ev.target.closest && ev.target.closest("#projector-toggle");
    if (!a || ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
    ev.preventDefault();
    var on = a.getAttribute("aria-checked") !== "true";
    var href = a.getAttribute("href");
    document.documentElement.classList.toggle("projector", on);
    a.setAttribute("aria-checked", on ? "true" : "false");
    a.setAttribute("href", href.replace(/projector=[01]/, "projector=" + (on ? "0" : "1")));
    var here = new URL(window.location.href);
    if (here.searchParams.has("projector")) {  // else a reload would bring the old mode back
      here.searchParams.delete("projector");
      window.history.replaceState(window.history.state, "", here.toString());
    }
    window.fetch(href, { credentials: "same-origin", headers: { "HX-Request": "true" } })
      .then(function () {  // the diagram is laid out on the server for the mode: redraw it
        if (window.htmx && document.getElementById("workspace")) {
          window.htmx.ajax("GET", window.location.href, { target: "#workspace", swap: "outerHTML" });
        }
      })
      .catch(function () { /* the class is already switched; the cookie waits for next time */ });
  });

  document.addEventListener("change", function (ev) {
    if (ev.target && ev.target.id === "shortcuts-on") setShortcuts(ev.target.checked);
  });

  // A click on the data plot adds a point there: it fills the add-point form and submits it.
  document.addEventListener("click", function (ev) {
    var svg = ev.target && ev.target.closest && ev.target.closest("#data-plot");
    var form = document.getElementById("add-point");
    if (!svg || !form || ev.button !== 0) return;
    var pt = svg.createSVGPoint();
    pt.x = ev.clientX; pt.y = ev.clientY;
    var p = pt.matrixTransform(svg.getScreenCTM().inverse());
    var size = parseFloat(svg.getAttribute("data-size"));
    var lo = parseFloat(svg.getAttribute("data-lo")), hi = parseFloat(svg.getAttribute("data-hi"));
    if (!(p.x >= 0 && p.x <= size && p.y >= 0 && p.y <= size)) return;
    var round = function (v) { return Math.round(v * 1000) / 1000; };
    form.querySelector("[name=x1]").value = round(lo + (p.x / size) * (hi - lo));
    form.querySelector("[name=x2]").value = round(hi - (p.y / size) * (hi - lo));
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  });

  // --- Play (and a long run) stops as soon as another step is asked for ------------------
  // Any toolbar request (Pause, Cancel, Reset, Step, …) ends Play on the server's reply; a tick fired
  // in between would still train after it (Pause then Reset could show epoch 10, not 0). So
  // the poller stops when the request leaves. (A tick already sent is left to finish:
  // aborting it logs an htmx error, and it was sent before this request anyway.)
  document.addEventListener("htmx:beforeRequest", function (ev) {
    var src = ev.detail && ev.detail.elt;
    if (!src || !src.closest || !src.closest("#controls, #undo, #run")) return;
    var player = document.getElementById("player");
    if (!player || !player.classList.contains("playing")) return;
    var idle = document.createElement("div");
    idle.id = "player";
    var have = document.getElementById("tick-have");
    if (have) idle.appendChild(have.cloneNode(false));
    player.replaceWith(idle);  // htmx stops polling an element that left the page
  });

  // --- focus and open panels survive every swap (main and out-of-band) ------------------
  var saved = null;

  // The element focused when the request started: by the time the reply is swapped in, focus
  // may already have fallen to <body> (a button pressed with Space loses it on some timings).
  var lastFocused = null;
  document.addEventListener("focusin", function (ev) { lastFocused = ev.target; });

  // What each swap saw, by its request: a quick second request may be swapped before the
  // first one settles, and each settle restores its own swap's focus.
  var savedBy = new WeakMap();

  document.addEventListener("htmx:beforeSwap", function (ev) {
    var el = document.activeElement;
    if ((!el || el === document.body) && lastFocused && lastFocused.id) el = lastFocused;
    var open = [];
    document.querySelectorAll("details[id]").forEach(function (d) { if (d.open) open.push(d.id); });
    saved = { id: el && el !== document.body ? el.id || null : null,
              toolbar: !!(el && el.closest && el.closest(".toolbar")),
              open: open };
    var xhr = ev.detail && ev.detail.xhr;
    if (xhr) savedBy.set(xhr, saved);
  });

  document.addEventListener("htmx:afterSettle", function (ev) {
    var xhr = ev.detail && ev.detail.xhr;
    var s = xhr && savedBy.has(xhr) ? savedBy.get(xhr) : saved;
    if (xhr) savedBy.delete(xhr);
    if (s === saved) saved = null;
    syncShortcutSwitch();
    if (!s) return;
    s.open.forEach(function (id) { var d = document.getElementById(id); if (d) d.open = true; });
    var now = document.activeElement;
    if (now && now !== document.body && document.contains(now)) return;  // focus was kept
    var el = s.id && document.getElementById(s.id);
    if (!el && s.id && s.id.indexOf("run-") === 0) {
      // Cancel or Continue of a run that has gone: its Cancel if it goes on, else Train.
      el = document.getElementById("run-cancel") || document.getElementById("op-train");
    }
    if (el && el.matches("svg.net a[data-col]")) {
      moveTo(el.closest("svg"), el);
      return;
    }
    if (el && !el.disabled) { el.focus(); return; }
    if (s.toolbar) {
      // The pressed button is disabled now (e.g. Forward after the last layer): the next
      // step's button, else the first enabled one, so focus stays in the toolbar.
      var next = document.querySelector(".toolbar button:not([disabled])");
      if (next) next.focus();
    }
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", syncShortcutSwitch);
  } else {
    syncShortcutSwitch();
  }
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
