// Backprop Lab class polls: the teacher's poll panel (default prompts, the live count over the
// watch link's event stream) and the students' answer form on the watch page (a random token
// per browser, the answer sent as JSON, each student's own result after the reveal).
// No eval, no inline handlers.
(function () {
  "use strict";
  var TOKEN = "backprop-lab-student";

  // --- the teacher -------------------------------------------------------------------------
  function checked(form, name) {
    var el = form.querySelector("input[name=" + name + "]:checked");
    return el ? el : null;
  }

  function initAsk() {
    var form = document.getElementById("poll-ask");
    if (!form || form.dataset.ready) return;
    form.dataset.ready = "1";
    var prompt = document.getElementById("poll-prompt-input");
    var edited = false;
    prompt.addEventListener("input", function () { edited = true; });
    function sync() {
      var q = checked(form, "quantity");
      var kind = checked(form, "kind");
      if (!q || !kind) return;
      var kinds = (q.dataset.kinds || "").split(" ");
      var choice = form.querySelector("input[name=kind][value=choice]");
      if (choice) {
        var ok = kinds.indexOf("choice") >= 0;
        choice.disabled = !ok;
        choice.closest("label").hidden = !ok;
        if (!ok && choice.checked) {
          form.querySelector("input[name=kind][value=number]").checked = true;
          kind = checked(form, "kind");
        }
      }
      var text = q.getAttribute("data-prompt-" + kind.value);
      if (text && !edited) prompt.value = text;
    }
    form.addEventListener("change", function (e) {
      if (e.target && e.target.name !== "prompt") sync();
    });
    sync();
  }

  var stream = null;
  function initLive() {
    var live = document.getElementById("poll-live");
    var url = live && live.getAttribute("data-events");
    if (stream && (!url || stream.url.indexOf(url) < 0 || stream.poll !== live.dataset.poll)) {
      stream.source.close();
      stream = null;
    }
    if (!url || stream || typeof EventSource === "undefined") return;
    var source = new EventSource(url);
    stream = { source: source, url: url, poll: live.dataset.poll };
    source.addEventListener("answers", function (e) {
      var data = JSON.parse(e.data);
      var count = document.getElementById("poll-count");
      var here = document.getElementById("poll-live");
      if (count && here && data.poll_id === here.dataset.poll) count.textContent = data.answers;
    });
    source.addEventListener("poll", function (e) {
      var data = JSON.parse(e.data);
      var here = document.getElementById("poll-live");
      if (here && data.poll && data.poll.poll_id === here.dataset.poll &&
          data.poll.status === "revealed") {
        window.location.reload();  // revealed elsewhere (another tab, the API)
      }
    });
  }

  // --- the students ------------------------------------------------------------------------
  function token() {
    var t = null;
    try { t = window.localStorage.getItem(TOKEN); } catch (e) { /* private mode */ }
    if (!t || !/^[A-Za-z0-9_-]{8,64}$/.test(t)) {
      var bytes = new Uint8Array(16);
      window.crypto.getRandomValues(bytes);
      t = Array.prototype.map.call(bytes, function (b) {
        return ("0" + b.toString(16)).slice(-2);
      }).join("");
      try { window.localStorage.setItem(TOKEN, t); } catch (e) { /* kept for this page */ }
    }
    return t;
  }

  function remember(pid, value) {
    try { window.localStorage.setItem(TOKEN + ":" + pid, JSON.stringify(value)); } catch (e) {}
  }

  function recalled(pid) {
    try {
      var v = window.localStorage.getItem(TOKEN + ":" + pid);
      return v === null ? null : JSON.parse(v);
    } catch (e) { return null; }
  }

  function say(box, template, answer) {
    var mine = box.querySelector("#poll-mine");
    if (mine) mine.textContent = template.replace("{answer}", answer === null ? "" : answer);
  }

  function shownAnswer(box, value) {
    if (value === null || value === undefined) return "";
    if (box.dataset.kind === "sign") return value === "-" ? "−" : value;
    return String(value).replace("-", "−");
  }

  function initStudent() {
    var box = document.getElementById("poll");
    if (!box || !box.dataset.poll || box.dataset.ready === box.dataset.poll + box.dataset.status) {
      return;
    }
    box.dataset.ready = box.dataset.poll + box.dataset.status;
    var pid = box.dataset.poll;
    var form = box.querySelector("#poll-answer-form");
    var nojs = box.querySelector("#poll-nojs");
    if (nojs) nojs.hidden = true;
    if (box.dataset.status === "open" && form) {
      form.hidden = false;
      var before = recalled(pid);
      if (before !== null) {
        var input = form.querySelector("input[type=text]");
        if (input) input.value = String(before);
        var radio = form.querySelector("input[type=radio][value=\"" + before + "\"]");
        if (radio) radio.checked = true;
        say(box, box.dataset.msgSaved, shownAnswer(box, before));
      }
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        var answer;
        if (box.dataset.kind === "number") {
          var text = form.querySelector("input[type=text]").value.trim()
            .replace(",", ".").replace("−", "-");
          answer = Number(text);
          if (text === "" || !isFinite(answer)) {
            say(box, box.dataset.msgError, null);
            var mine = box.querySelector("#poll-mine");
            mine.textContent = box.dataset.msgError.replace("{reason}", text || "—");
            return;
          }
        } else {
          var pick = form.querySelector("input[name=answer]:checked");
          if (!pick) return;
          answer = pick.value;
        }
        var button = form.querySelector("button");
        button.disabled = true;
        fetch(box.dataset.answerUrl, {
          method: "POST", headers: { "content-type": "application/json" },
          body: JSON.stringify({ student: token(), answer: answer })
        }).then(function (r) {
          return r.json().then(function (body) { return { status: r.status, body: body }; });
        }).then(function (res) {
          button.disabled = false;
          if (res.status === 200) {
            remember(pid, answer);
            say(box, box.dataset.msgSaved, shownAnswer(box, answer));
          } else if (res.status === 409) {
            say(box, box.dataset.msgClosed, null);
          } else {
            var reason = typeof res.body.detail === "string" ? res.body.detail
              : (res.body.detail && res.body.detail[0] && res.body.detail[0].msg) || res.status;
            box.querySelector("#poll-mine").textContent =
              box.dataset.msgError.replace("{reason}", reason);
          }
        }).catch(function () { button.disabled = false; });
      });
    } else if (box.dataset.status === "revealed") {
      fetch(box.dataset.resultUrl + "?student=" + encodeURIComponent(token()))
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (res) {
          if (!res || box.dataset.poll !== pid) return;
          var mine = box.querySelector("#poll-mine");
          if (res.answer === null) { mine.textContent = box.dataset.msgNone; return; }
          var text = box.dataset.msgMine.replace("{answer}", shownAnswer(box, res.answer));
          if (res.correct === true) text += " " + box.dataset.msgRight;
          if (res.correct === false) text += " " + box.dataset.msgWrong;
          mine.textContent = text;
          mine.className = "poll-mine " + (res.correct ? "right" : "wrong");
        });
    }
  }

  function init() {
    initAsk();
    initLive();
    initStudent();
  }

  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:afterSettle", init);
  document.addEventListener("htmx:oobAfterSwap", init);
})();
