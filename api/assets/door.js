// The door page's camera: frames from the device camera are decoded by
// the vendored jsQR in this page (no worker, no other origin); a code found
// fills the form and submits it, then scanning pauses for a moment.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  var button = document.getElementById("scan-button");
  var video = document.getElementById("scan-video");
  var form = document.getElementById("door-form");
  var input = document.getElementById("f-code");
  if (!form || !input) { return; }
  // After each answer the field is empty and ready for the next ticket.
  form.addEventListener("htmx:afterRequest", function () {
    input.value = "";
    input.focus();
  });
  if (!button || !video || !window.jsQR) { return; }
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    button.disabled = true;
    button.textContent = "No camera available";
    return;
  }
  var canvas = document.createElement("canvas");
  var context = canvas.getContext("2d", { willReadFrequently: true });
  var stream = null;
  var pausedUntil = 0;

  function stop() {
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
    stream = null;
    video.hidden = true;
    button.textContent = "Scan with camera";
  }

  function frame() {
    if (!stream) { return; }
    if (video.readyState === video.HAVE_ENOUGH_DATA && Date.now() > pausedUntil) {
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      context.drawImage(video, 0, 0, canvas.width, canvas.height);
      var image = context.getImageData(0, 0, canvas.width, canvas.height);
      var found = window.jsQR(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
      if (found && found.data) {
        input.value = found.data;
        pausedUntil = Date.now() + 1500;
        form.requestSubmit();
      }
    }
    requestAnimationFrame(frame);
  }

  button.addEventListener("click", function () {
    if (stream) { stop(); return; }
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } })
      .then(function (s) {
        stream = s;
        video.srcObject = s;
        video.hidden = false;
        button.textContent = "Stop camera";
        return video.play();
      })
      .then(function () { requestAnimationFrame(frame); })
      .catch(function () { stop(); button.textContent = "Camera refused"; });
  });
});
