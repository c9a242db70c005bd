/* hostadmin's only script: progressive enhancements, nothing the page needs to work. */
(function () {
  "use strict";

  document.documentElement.classList.add("js");  // the stylesheet's no-JavaScript rules step aside

  // Report the browser's time zone so timestamps render in the user's zone.
  try {
    var tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    // Zone names ("Europe/Paris") are cookie-safe as they are; Django does not URL-decode.
    var sent = document.cookie.split("; ").indexOf("tz=" + tz) !== -1;  // exact: not "Etc/GMT+1" in "Etc/GMT+10"
    if (tz && /^[A-Za-z0-9_+\/-]+$/.test(tz) && !sent) {
      document.cookie = "tz=" + tz + "; path=/; SameSite=Lax; max-age=31536000";
    }
  } catch (e) { /* older browsers: server time zone */ }

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) { return; }

    // Copy buttons on the detail page.
    var copy = target.closest("[data-copy]");
    if (copy) {
      var source = document.getElementById(copy.getAttribute("data-copy"));
      if (source && navigator.clipboard) {
        navigator.clipboard.writeText(source.textContent.trim()).then(function () {
          copy.textContent = "Copied";
          setTimeout(function () { copy.textContent = "Copy"; }, 1500);
        });
      }
      return;
    }

    // A link to a form field on this page ("Pick another target" on a 403, also in content
    // htmx swapped in) puts the caret in that field with its text selected, ready to be
    // typed over, without a "#field" left in the address (the page's canonical URL).
    var jump = target.closest("a[href^='#']");
    var field = jump && document.getElementById(jump.getAttribute("href").slice(1));
    if (field && field.matches("input, select, textarea")) {
      event.preventDefault();
      field.focus();
      if (typeof field.select === "function") { field.select(); }
      return;
    }
  });

  // Copy buttons only make sense with a clipboard.
  function showCopyButtons() {
    if (!navigator.clipboard) { return; }
    document.querySelectorAll("[data-copy][hidden]").forEach(function (b) { b.hidden = false; });
  }
  document.addEventListener("DOMContentLoaded", showCopyButtons);

  // CSV exports (the list page's exports panel). The server's answer to an export button
  // is the export's progress region plus an "hostadmin:download" event naming the
  // download, which the page then follows (a CSV attachment: the page stays). A refusal
  // shown in place can be dismissed; the keyboard focus goes back to the export buttons.
  // When an export ends, its Cancel button gives way to Retry and Dismiss: the keyboard
  // focus, if it was on Cancel, moves to the first of them.
  function exportDownloads() {
    document.body.addEventListener("htmx:oobBeforeSwap", function (event) {
      var box = event.detail && event.detail.target;
      if (!box || !box.classList.contains("export-actions") || !box.contains(document.activeElement)) { return; }
      setTimeout(function () {
        var next = box.querySelector("button");
        if (next) { next.focus(); }
      }, 0);
    });
    document.body.addEventListener("hostadmin:download", function (event) {
      var url = event.detail && event.detail.url;
      if (typeof url === "string" && /^\/[^\/\\]/.test(url)) { window.location.assign(url); }
    });
    document.addEventListener("click", function (event) {
      var button = event.target instanceof Element ? event.target.closest("[data-dismiss-refusal]") : null;
      var item = button && button.closest("li");
      if (!item) { return; }
      item.remove();
      var first = document.querySelector("#export a");
      if (first) { first.focus(); }
    });
  }
  document.addEventListener("DOMContentLoaded", exportDownloads);
})();
