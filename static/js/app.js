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

  function randomId() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

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

    // CSV export: a fresh export id per click, then poll its progress.
    var link = target.closest("a[data-export]");
    if (link && window.htmx) {
      var id = randomId();
      var url = new URL(link.href, window.location.href);
      url.searchParams.set("export_id", id);
      link.href = url.toString();
      var box = document.getElementById("export-progress");
      if (box) {
        var progressUrl = box.getAttribute("data-progress-url").replace(/[0-9a-f]{32}/, id);
        box.hidden = false;
        window.htmx.ajax("GET", progressUrl, { target: "#export-progress", swap: "outerHTML" });
      }
    }
  });

  // --- Focus after htmx swaps ------------------------------------------------------------
  // htmx itself gives the focus back to an element swapped in with the id of the one that
  // had it (a checkbox, the search box, "Next ›"). A page change moves it to the results
  // heading, the table's top in view; so does a swap that removed the focused control with
  // no successor (a page number, a chip, Retry, Clear all), instead of leaving it nowhere.
  function resultsHeading() {
    return document.getElementById("results-heading") || document.getElementById("page-title");
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var xhr = event.detail.xhr;
    if (xhr) { xhr.hostadminFocus = document.activeElement; }
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    var detail = event.detail;
    var had = detail.xhr && detail.xhr.hostadminFocus;
    var control = detail.requestConfig && detail.requestConfig.elt;
    var heading = resultsHeading();
    if (!heading) { return; }
    if (control instanceof Element && control.closest(".pager")) {
      heading.scrollIntoView({ block: "start" });
      heading.focus({ preventScroll: true });
      return;
    }
    var lost = !document.activeElement || document.activeElement === document.body;
    if (had && had !== document.body && !had.isConnected && lost) {
      heading.focus({ preventScroll: true });
    }
  });

  // Copy buttons only make sense with a clipboard.
  function showCopyButtons() {
    if (!navigator.clipboard) { return; }
    document.querySelectorAll("[data-copy][hidden]").forEach(function (b) { b.hidden = false; });
  }
  document.addEventListener("DOMContentLoaded", showCopyButtons);
})();
