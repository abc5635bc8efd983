// Marquee pages: the little JavaScript they need, loaded from this server
// (the CSP allows no inline script). Everything works without it except the
// countdown and live updates.
"use strict";

// A hold's countdown: `<time data-countdown datetime="…">`. At zero the
// pay button is disabled and the page says the hold expired.
function startCountdowns() {
  document.querySelectorAll("time[data-countdown]").forEach(function (el) {
    var end = Date.parse(el.getAttribute("datetime"));
    function tick() {
      var left = Math.max(0, Math.ceil((end - Date.now()) / 1000));
      var m = Math.floor(left / 60), s = left % 60;
      el.textContent = m + ":" + (s < 10 ? "0" : "") + s;
      if (left === 0) {
        el.textContent = "0:00 (expired)";
        document.querySelectorAll("[data-expires]").forEach(function (b) { b.disabled = true; });
        return;
      }
      setTimeout(tick, 1000 - (Date.now() % 1000));
    }
    tick();
  });
}

// Confirmation before a destructive form: `data-confirm="…"` on the form
// or on the button that submits it.
document.addEventListener("submit", function (event) {
  var submitter = event.submitter;
  var message = (submitter && submitter.getAttribute("data-confirm")) ||
    (event.target.getAttribute && event.target.getAttribute("data-confirm"));
  if (message && !window.confirm(message)) { event.preventDefault(); }
});

// The seat map is redrawn on every live update; seats picked while the
// redraw was on its way stay picked (unless someone else took them).
var picked = [];
document.addEventListener("htmx:beforeSwap", function (event) {
  if (event.detail.target && event.detail.target.id === "seatmap") {
    picked = Array.prototype.map.call(
      event.detail.target.querySelectorAll("input[name=seat]:checked"),
      function (input) { return input.value; });
  }
});
document.addEventListener("htmx:afterSettle", function () {
  var map = document.getElementById("seatmap");
  if (!map || picked.length === 0) { return; }
  picked.forEach(function (value) {
    var input = map.querySelector("input[name=seat][value='" + value + "']");
    if (input && !input.disabled) { input.checked = true; }
  });
  picked = [];
});

document.addEventListener("DOMContentLoaded", startCountdowns);
