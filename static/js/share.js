// Backprop Lab share panel: "Show the QR code full screen" for the projector (the Fullscreen
// API, else a page-filling overlay; Escape or the button again closes it). No inline handlers.
(function () {
  "use strict";
  function init() {
    var button = document.getElementById("qr-full");
    if (!button || button.dataset.ready) return;
    button.dataset.ready = "1";
    button.hidden = false;
    var box = document.getElementById(button.getAttribute("data-target"));
    if (!box) return;
    function close() {
      box.classList.remove("full");
      box.removeAttribute("tabindex");
      button.focus();
    }
    box.addEventListener("click", function () {
      if (document.fullscreenElement === box) document.exitFullscreen();
      else if (box.classList.contains("full")) close();
    });
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && box.classList.contains("full")) close();
    });
    button.addEventListener("click", function () {
      if (box.requestFullscreen && document.fullscreenEnabled) {
        box.requestFullscreen().catch(function () {
          box.classList.add("full");
        });
      } else {
        box.classList.add("full");
        box.setAttribute("tabindex", "-1");
        box.focus();
      }
    });
  }
  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:afterSettle", init);
})();
