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

  // "?" opens the shortcut list and focuses it; Esc (or "?") closes it and gives the focus
  // back where it was (else to the page), so single-key shortcuts work again at once.
  var helpReturn = null;
  function closeHelp(h) {
    h.open = false;
    var back = helpReturn;
    helpReturn = null;
    if (back && back !== document.body && document.contains(back) && back.focus) {
      back.focus();
    } else if (document.activeElement && document.activeElement.blur) {
      document.activeElement.blur();
    }
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
      if (h && h.open) { closeHelp(h); ev.preventDefault(); }
      else if (cancelRun()) ev.preventDefault();
      return;
    }
    if (ownsKeys(ev.target, key) || !shortcutsOn()) return;
    if (key === "?") {
      var help = document.getElementById("help");
      if (help && help.open) {
        closeHelp(help);
      } else if (help) {
        helpReturn = document.activeElement;
        help.open = true;
        help.querySelector("summary").focus();
      }
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
    stopPlay();  // the stream closes before this request leaves: no tick after it
    var player = document.getElementById("player");
    if (!player || !player.classList.contains("playing")) return;
    var idle = document.createElement("div");
    idle.id = "player";
    var have = document.getElementById("tick-have");
    if (have) idle.appendChild(have.cloneNode(false));
    player.replaceWith(idle);  // htmx stops polling an element that left the page
  });

  // --- Play: the page holds one stream (GET /s/{id}/play) and the server pushes each tick's
  // frame (the regions that changed, out of band), 4 a second; not one request per tick. The
  // stream is open while #player carries data-play and the tab is visible; an event "stop"
  // (diverged, or the session changed elsewhere) brings the full regions and the Play button.
  // A server with too many streams says "poll": the page then polls POST /tick as before. --
  var play = null;  // {el, src, timer}

  function stopPlay() {
    if (!play) return;
    if (play.src) play.src.close();
    play = null;
  }

  function swapFrame(html) {
    var p = document.getElementById("player");
    if (html && p && window.htmx) window.htmx.swap(p, html, { swapStyle: "none" });
  }

  function pollTicks(p) {
    // The page before streams: htmx posts a tick 250 ms after each reply (286 stops it).
    p.setAttribute("hx-post", p.getAttribute("data-tick"));
    p.setAttribute("hx-trigger", "every 250ms");
    p.setAttribute("hx-swap", "none");
    p.setAttribute("hx-include", "#tick-have");
    p.removeAttribute("data-play");
    window.htmx.process(p);
  }

  function syncPlay() {
    var p = document.getElementById("player");
    var url = p && p.getAttribute("data-play");
    if (play && (play.el !== p || !url || document.hidden)) stopPlay();
    if (play || !url || document.hidden || !window.htmx) return;
    if (!window.EventSource) { pollTicks(p); return; }
    var me = play = { el: p, src: new window.EventSource(url) };
    me.src.addEventListener("frame", function (ev) {
      if (play === me) swapFrame(ev.data);
    });
    me.src.addEventListener("stop", function (ev) {
      if (play !== me) return;
      stopPlay();
      // The full regions and a player that does not play; nothing when the session is gone
      // (the page stays as it is, and does not open the stream again).
      if (ev.data) swapFrame(ev.data); else p.removeAttribute("data-play");
      syncPlay();
    });
    me.src.addEventListener("poll", function () {
      if (play !== me) return;
      stopPlay();
      pollTicks(p);
    });
    // A dropped connection reconnects by itself (EventSource); one that cannot be opened at
    // all (an old proxy) falls back to polling.
    me.src.addEventListener("error", function () {
      if (play === me && me.src.readyState === window.EventSource.CLOSED) {
        stopPlay();
        pollTicks(p);
      }
    });
  }
  document.addEventListener("htmx:afterSettle", syncPlay);
  // A hidden tab does not play (as the polling page's timers slowed down there): the stream
  // closes and opens again when the tab is shown.
  document.addEventListener("visibilitychange", syncPlay);

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

  // --- the inspector's formulas: MathML does not wrap, so the server breaks long chains into
  // lines and a line still wider than its box (a narrow phone) is scaled down to fit it. -----
  function fitMath() {
    var eqs = document.querySelectorAll(".inspector .eq");
    Array.prototype.forEach.call(eqs, function (eq) {
      eq.style.fontSize = "";  // CSSOM, not a style attribute in the markup: CSP allows it
      var room = eq.clientWidth, need = eq.scrollWidth;
      if (room > 0 && need > room + 0.5) {
        eq.style.fontSize = Math.max(40, Math.floor(100 * room / need)) + "%";
      }
    });
  }
  document.addEventListener("htmx:afterSettle", fitMath);

  // --- projector: a derivation taller than the inspector is shown in parts that each fit
  // (#19: nothing scrolls or clips at 1280 × 720), with ◀ part i of n ▶ buttons; the part
  // shown stays while the same element is selected (steps and Play redraw the inspector). ---
  var part = {key: null, i: 0};
  function pageInspector() {
    var insp = document.getElementById("inspector");
    if (!insp) return;
    var old = insp.querySelector(".inspector-pager");
    if (old) old.parentNode.removeChild(old);
    var figs = Array.prototype.slice.call(insp.querySelectorAll("figure.formula"));
    figs.forEach(function (f) { f.hidden = false; });
    insp.classList.remove("paged");
    fitMath();  // widths first: a scaled line is shorter
    if (!document.documentElement.classList.contains("projector") || figs.length < 2) return;
    if (insp.scrollHeight <= insp.clientHeight + 1) return;
    var full = insp.clientHeight;  // the inspector's height at its limit (it overflows now)
    var pager = document.createElement("nav");
    pager.className = "inspector-pager";
    pager.setAttribute("aria-label", insp.getAttribute("data-text-parts") || "");
    var prev = document.createElement("button"), next = document.createElement("button");
    var say = document.createElement("span");
    prev.type = next.type = "button";
    prev.textContent = "◀";
    next.textContent = "▶";
    prev.setAttribute("aria-label", insp.getAttribute("data-text-prev") || "");
    next.setAttribute("aria-label", insp.getAttribute("data-text-next") || "");
    say.setAttribute("role", "status");
    pager.appendChild(prev); pager.appendChild(say); pager.appendChild(next);
    figs[0].parentNode.insertBefore(pager, figs[0]);
    insp.classList.add("paged");
    // Greedy: as many whole figures per part as the room below the pager holds.
    figs.forEach(function (f) { f.hidden = true; });
    var room = full - insp.scrollHeight;
    var pages = [], cur = [], used = 0;
    figs.forEach(function (f) {
      f.hidden = false;
      var cs = getComputedStyle(f);
      var h = f.offsetHeight + parseFloat(cs.marginTop) + parseFloat(cs.marginBottom);
      f.hidden = true;
      if (cur.length && used + h > room) { pages.push(cur); cur = []; used = 0; }
      cur.push(f);
      used += h;
    });
    pages.push(cur);
    var title = insp.querySelector("h3");
    var key = (title ? title.textContent : "") + "|" + pages.length;
    if (key !== part.key) part = {key: key, i: 0};
    function show(i) {
      part.i = Math.max(0, Math.min(pages.length - 1, i));
      pages.forEach(function (pg, k) {
        pg.forEach(function (f) { f.hidden = k !== part.i; });
      });
      say.textContent = (insp.getAttribute("data-text-part") || "{i} / {n}")
        .replace("{i}", String(part.i + 1)).replace("{n}", String(pages.length));
      prev.disabled = part.i === 0;
      next.disabled = part.i === pages.length - 1;
      fitMath();
      // A figure taller than the room on its own (a sum over many paths or samples): smaller.
      pages[part.i].forEach(function (f) { f.style.zoom = ""; });
      var over = insp.scrollHeight - insp.clientHeight;
      if (over > 1) {
        var h = 0;
        pages[part.i].forEach(function (f) { h += f.offsetHeight; });
        var k = Math.max(0.6, (h - over - 4) / h);
        pages[part.i].forEach(function (f) { f.style.zoom = String(k); });
        fitMath();
      }
    }
    prev.addEventListener("click", function () { show(part.i - 1); });
    next.addEventListener("click", function () { show(part.i + 1); });
    show(part.i);
  }
  document.addEventListener("htmx:afterSettle", pageInspector);
  window.addEventListener("resize", pageInspector);

  // --- adding points: the chosen class (or target) stays chosen across the page's swaps ---
  var addY = null;
  document.addEventListener("change", function (ev) {
    var t = ev.target;
    if (t && t.name === "y" && t.closest && t.closest("#add-point")) addY = t.value;
  });
  function restoreAddY() {
    if (addY === null) return;
    var form = document.getElementById("add-point");
    if (!form) return;
    Array.prototype.forEach.call(form.querySelectorAll('input[name="y"]'), function (i) {
      if (i.type === "radio") i.checked = i.value === addY; else i.value = addY;
    });
  }
  document.addEventListener("htmx:afterSettle", restoreAddY);
  window.addEventListener("resize", fitMath);

  // --- predict mode (one student): the values the next step computes show "?"; a guess for
  // one of them is kept (this tab only) and compared with the value once the step ran. -------
  var PREDICT = "backprop-lab-predict";
  function predictState() {
    try { return JSON.parse(window.sessionStorage.getItem(PREDICT) || "{}"); } catch (e) { return {}; }
  }
  function savePredict(s) {
    try { window.sessionStorage.setItem(PREDICT, JSON.stringify(s)); } catch (e) { /* private */ }
  }
  function nextPrefixes() {
    var nx = document.getElementById("next");
    if (!nx) return [];
    var phase = nx.getAttribute("data-phase"), l = nx.getAttribute("data-layer");
    if (phase === "forward") return ["z-" + l + "-", "a-" + l + "-"];
    if (phase === "backward") return ["d-" + l + "-", "g-" + l + "-", "gb-" + l + "-"];
    return [];  // update: the new weights are not on the page yet (the inspector hides them)
  }
  function numberOf(text) {
    var v = parseFloat(String(text).replace(/\u2212/g, "-").replace("+", ""));
    return isFinite(v) ? v : null;
  }
  function keyOf(el) {
    var a = el.closest("a");
    var name = a ? (a.getAttribute("aria-label") || "").split(" (")[0] : "";
    var key = el.previousElementSibling ? el.previousElementSibling.textContent : "";
    return key + " · " + el.getAttribute("data-ref") + (name ? " (" + name.split(" ")[0] + ")" : "");
  }
  function syncPredict() {
    var box = document.getElementById("predict");
    if (!box) return;
    box.hidden = false;
    var s = predictState(), on = !!s.on;
    document.documentElement.classList.toggle("predicting", on);
    document.getElementById("predict-on").checked = on;
    var form = document.getElementById("predict-form"), sel = document.getElementById("predict-ref");
    var result = document.getElementById("predict-result");
    var prefixes = nextPrefixes();
    var values = Array.prototype.slice.call(document.querySelectorAll("svg.net [data-ref]"));
    values.forEach(function (t) {
      var next = prefixes.some(function (p) { return t.getAttribute("data-ref").indexOf(p) === 0; });
      t.classList.toggle("next", next);
      if (on && next && t.getAttribute("data-held") === null) {
        t.setAttribute("data-held", t.textContent);
        t.textContent = "?";
      } else if ((!on || !next) && t.getAttribute("data-held") !== null) {
        t.textContent = t.getAttribute("data-held");
        t.removeAttribute("data-held");
      }
    });
    // A guess made before the step: its value is on the page now.
    if (s.guess && s.ref) {
      var el = document.querySelector('svg.net [data-ref="' + s.ref + '"]');
      var v = el && el.getAttribute("data-held") === null ? numberOf(el.textContent) : null;
      if (v !== null) {
        result.textContent = result.getAttribute("data-text-far")
          .replace("{guess}", s.guess).replace("{value}", el.textContent)
          .replace("{diff}", Math.abs(v - numberOf(s.guess)).toPrecision(3));
        s.guess = null;
        savePredict(s);
      }
    }
    form.hidden = !on;
    if (!on) return;
    var keep = sel.value || s.ref;
    sel.innerHTML = "";
    values.filter(function (t) { return t.classList.contains("next"); }).forEach(function (t) {
      var o = document.createElement("option");
      o.value = t.getAttribute("data-ref");
      o.textContent = keyOf(t);
      sel.appendChild(o);
    });
    if (keep) sel.value = keep;
    form.hidden = !sel.options.length;
  }
  document.addEventListener("change", function (ev) {
    var t = ev.target;
    if (!t || !t.id) return;
    var s = predictState();
    if (t.id === "predict-on") { s.on = t.checked; savePredict(s); syncPredict(); }
    if (t.id === "predict-ref") { s.ref = t.value; savePredict(s); }
    if (t.id === "predict-value") {
      s.ref = document.getElementById("predict-ref").value;
      s.guess = t.value;
      savePredict(s);
      var r = document.getElementById("predict-result");
      if (r) r.textContent = r.getAttribute("data-text-take");
    }
  });
  document.addEventListener("htmx:afterSettle", syncPredict);

  function ready() {
    syncPlay();
    syncShortcutSwitch();
    fitMath();
    pageInspector();
    syncPredict();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
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
