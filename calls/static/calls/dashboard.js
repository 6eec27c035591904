// Refreshes each part of the dashboard that names a URL, every few seconds, without reloading
// the page: the server renders the fragment (tables and SVG charts), this only swaps it in.
(function () {
  "use strict";
  function refresh(section) {
    fetch(section.dataset.refreshUrl, {credentials: "same-origin", headers: {"X-Requested-With": "fetch"}})
      .then(function (response) {
        if (!response.ok || response.redirected) { throw new Error("status " + response.status); }
        return response.text();
      })
      .then(function (html) {
        section.innerHTML = html;
        section.classList.remove("stale");
        var stamp = document.querySelector("[data-refreshed-at]");
        if (stamp) { stamp.textContent = "Last refreshed " + new Date().toLocaleTimeString() + "."; }
      })
      .catch(function () { section.classList.add("stale"); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-refresh-url]").forEach(function (section) {
      var seconds = parseInt(section.dataset.refreshSeconds, 10) || 5;
      window.setInterval(function () { refresh(section); }, seconds * 1000);
    });
  });
})();
