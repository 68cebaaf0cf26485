// trellis dashboard: refresh the page's <main> every few seconds from the
// same URL, without a reload. The page reads fine without it.
(function () {
  "use strict";
  var live = document.getElementById("live");
  function every() {
    var main = document.querySelector("main[data-refresh]");
    var s = main ? parseInt(main.getAttribute("data-refresh"), 10) : 0;
    return s > 0 ? s * 1000 : 0;
  }
  function schedule() {
    var ms = every();
    if (ms) { setTimeout(tick, ms); }
  }
  function tick() {
    // Not while hidden, nor while the reader selects text.
    if (document.hidden || String(window.getSelection()) !== "") { schedule(); return; }
    fetch(location.href, { cache: "no-store", credentials: "same-origin", redirect: "error" })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, "text/html");
        var fresh = doc.querySelector("main");
        var old = document.querySelector("main");
        if (fresh && old) {
          // keep <details> open as the reader left them
          var open = Array.prototype.map.call(old.querySelectorAll("details"), function (d) { return d.open; });
          old.replaceWith(document.importNode(fresh, true));
          document.querySelectorAll("main details").forEach(function (d, i) { if (open[i]) { d.open = true; } });
          document.title = doc.title;
        }
        if (live) { live.textContent = "live"; live.className = "live on"; }
      })
      .catch(function () { if (live) { live.textContent = "stale"; live.className = "live off"; } })
      .then(schedule);
  }
  if (live) { live.textContent = "live"; live.className = "live on"; }
  schedule();
})();
