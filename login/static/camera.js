// Camera capture for the face step: takes one still from the front camera
// and puts it into the form's file input, so the same form posts it. Without
// a camera (or JavaScript) the file input remains as the fallback.
(function () {
  var start = document.getElementById("camera-start");
  var box = document.getElementById("camera");
  var video = document.getElementById("video");
  var take = document.getElementById("camera-take");
  var input = document.getElementById("selfie");
  if (!start || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || typeof DataTransfer === "undefined") {
    return;
  }
  start.hidden = false;
  start.addEventListener("click", function () {
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "user" }, audio: false }).then(function (stream) {
      video.srcObject = stream;
      box.hidden = false;
      start.hidden = true;
      take.focus();
    }).catch(function () { start.hidden = true; input.focus(); });
  });
  take.addEventListener("click", function () {
    var canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    canvas.toBlob(function (blob) {
      var dt = new DataTransfer();
      dt.items.add(new File([blob], "selfie.jpg", { type: "image/jpeg" }));
      input.files = dt.files;
      video.srcObject.getTracks().forEach(function (t) { t.stop(); });
      box.hidden = true;
      document.getElementById("face-submit").focus();
    }, "image/jpeg", 0.9);
  });
})();
