/* calolab report: click a plot to enlarge it; click or Escape to close. */
(function () {
  "use strict";
  function close() {
    document.querySelectorAll(".lightbox").forEach(function (b) { b.remove(); });
  }
  document.addEventListener("click", function (e) {
    var t = e.target;
    if (t.tagName === "IMG" && t.closest("figure.plot")) {
      var box = document.createElement("div");
      box.className = "lightbox";
      var img = document.createElement("img");
      img.src = t.src;
      img.alt = t.alt;
      box.appendChild(img);
      box.addEventListener("click", close);
      document.body.appendChild(box);
    }
  });
  document.addEventListener("keydown", function (e) { if (e.key === "Escape") { close(); } });
})();
