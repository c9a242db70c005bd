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

  // The column chooser's boxes show what the table shows: when its own request fails, or
  // a newer one (a sort, a page) aborts it, the boxes go back to the state the page drew.
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (form instanceof HTMLFormElement && form.id === "columns" && !event.detail.successful) {
      form.reset();
    }
  });

  // Esc closes the chooser (a disclosure has no Esc of its own) and gives the focus back to
  // its summary, as a menu does.
  document.addEventListener("keydown", function (event) {
    var chooser = document.querySelector("details.col-chooser[open]");
    if (event.key !== "Escape" || !chooser || !chooser.contains(document.activeElement)) { return; }
    chooser.open = false;
    var summary = chooser.querySelector("summary");
    if (summary) { summary.focus(); }
  });

  // --- Keyboard shortcuts, as GitHub's (the "?" dialog lists them: list.html) ---------------
  function typing(element) {
    return element instanceof Element && (element.isContentEditable || element.matches(
      "textarea, select, input:not([type=checkbox]):not([type=radio]):not([type=button]):not([type=submit]):not([type=reset])"));
  }

  function tableRows() {
    return Array.prototype.slice.call(document.querySelectorAll("#results table.grid tbody tr"));
  }

  function currentRow() {
    var active = document.activeElement;
    var row = active instanceof Element ? active.closest("#results table.grid tbody tr") : null;
    return row || document.querySelector("#results tr.is-current");
  }

  function moveRow(by) {
    var rows = tableRows();
    if (!rows.length) { return; }
    var index = rows.indexOf(currentRow());
    var next = rows[index === -1 ? (by > 0 ? 0 : rows.length - 1) : Math.min(rows.length - 1, Math.max(0, index + by))];
    rows.forEach(function (r) { r.classList.toggle("is-current", r === next); });
    var link = next.querySelector("td > a");
    if (link) { link.focus({ preventScroll: true }); }
    next.scrollIntoView({ block: "nearest" });
  }

  function clickIfThere(id) {
    var link = document.getElementById(id);
    if (link) { link.click(); }
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (typing(event.target) || !document.getElementById("results")) { return; }
    var dialog = document.getElementById("shortcuts");
    if (dialog && dialog.open) { return; }  // Esc closes it (the browser's own)
    var key = event.key;
    if (key === "/") {
      var search = document.getElementById("search-text");
      if (search) { event.preventDefault(); search.focus(); search.select(); }
    } else if (key === "j" || key === "k") {
      event.preventDefault();
      moveRow(key === "j" ? 1 : -1);
    } else if (key === "o" || (key === "Enter" && event.target === document.body)) {
      var row = currentRow();
      var open = row && row.querySelector("td > a");
      if (open) { event.preventDefault(); open.click(); }
    } else if (key === "[" || key === "]") {
      event.preventDefault();
      clickIfThere(key === "[" ? "page-prev" : "page-next");
    } else if (key === "?" && dialog) {
      event.preventDefault();
      dialog.showModal();
    }
  });

  document.addEventListener("focusin", function (event) {
    // The row with the focus is the current one (Tab and a click move it too).
    var row = event.target instanceof Element ? event.target.closest("#results table.grid tbody tr") : null;
    if (row) { tableRows().forEach(function (r) { r.classList.toggle("is-current", r === row); }); }
  });

  document.addEventListener("click", function (event) {
    var opener = event.target instanceof Element ? event.target.closest("[data-shortcuts]") : null;
    var dialog = document.getElementById("shortcuts");
    if (opener && dialog) { dialog.showModal(); }
  });

  // --- Loading: the results are busy while a request for them runs ------------------------
  // Stale rows dim and take no clicks, the export links are off (app.css; a click is refused
  // below), and after a second a "Still loading…" is shown and announced, with a Cancel
  // that aborts the request (htmx:abort on the element the request is kept on).
  var loading = null;  // {elt, timer}

  function busy(on) {
    var results = document.getElementById("results");
    if (results) {
      if (on) { results.setAttribute("aria-busy", "true"); } else { results.removeAttribute("aria-busy"); }
      results.querySelectorAll("a[data-export]").forEach(function (a) {
        if (on) { a.setAttribute("aria-disabled", "true"); } else { a.removeAttribute("aria-disabled"); }
      });
      results.querySelectorAll("button[data-export]").forEach(function (b) { b.disabled = on; });
    }
    var still = document.getElementById("still-loading");
    var cancel = document.getElementById("cancel-loading");
    if (!on) {
      if (still) { still.textContent = ""; }
      if (cancel) {
        var hadFocus = document.activeElement === cancel;
        cancel.hidden = true;
        if (hadFocus) { resultsHeadingOrTitle().focus(); }
      }
    }
  }

  function resultsHeadingOrTitle() {
    return document.getElementById("results-heading") || document.getElementById("page-title") || document.body;
  }

  function endLoading() {
    if (loading) { clearTimeout(loading.timer); loading = null; }
    busy(false);
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var detail = event.detail;
    var target = detail.target;
    var forResults = target && (target.id === "results" || target.id === "content");
    if (!forResults || detail.elt.getAttribute("hx-swap") === "none") { return; }
    endLoading();
    busy(true);
    var elt = detail.elt;
    loading = {
      elt: elt,
      timer: setTimeout(function () {
        var still = document.getElementById("still-loading");
        var cancel = document.getElementById("cancel-loading");
        if (still) { still.textContent = "Still loading…"; }
        if (cancel) { cancel.hidden = false; }
      }, 1000)
    };
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    if (loading && event.detail.elt === loading.elt) { endLoading(); }
  });

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) { return; }
    if (target.closest("#cancel-loading") && loading) {
      var elt = loading.elt;
      var filters = document.getElementById("filters");
      window.htmx.trigger(elt, "htmx:abort");
      if (filters && filters !== elt) { window.htmx.trigger(filters, "htmx:abort"); }  // hx-sync keeps it there
      endLoading();
      return;
    }
    var stale = target.closest("a[data-export][aria-disabled='true']");
    if (stale) { event.preventDefault(); event.stopImmediatePropagation(); }
  }, true);

  // --- One search, one history entry --------------------------------------------------
  // A typed search is one entry: its first response pushes it, the next ones replace it.
  // It ends (settles) on Enter, on leaving the box or at a pause of a second between two
  // keys; the next key starts a new one. Each request carries the search it was sent for,
  // so a slow response never counts for the next search. Back undoes a whole search.
  var search = { current: 0, pushed: -1, lastKey: 0, settled: true };

  document.addEventListener("input", function (event) {
    if (!(event.target instanceof Element) || event.target.id !== "search-text") { return; }
    var now = Date.now();
    if (search.settled || now - search.lastKey >= 1000) { search.current += 1; search.settled = false; }
    search.lastKey = now;
  });
  document.addEventListener("focusout", function (event) {
    if (event.target instanceof Element && event.target.id === "search-text") { search.settled = true; }
  });
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.detail.xhr) { event.detail.xhr.hostadminSearch = search.current; }
  });

  document.addEventListener("htmx:beforeHistoryUpdate", function (event) {
    var history = event.detail.history;
    var xhr = event.detail.xhr || {};
    var trigger = (event.detail.requestConfig || {}).triggeringEvent;
    var typed = trigger && trigger.type === "input" && trigger.target && trigger.target.id === "search-text";
    if (!typed) { search.settled = true; }
    if (history.type !== "push") { return; }
    if (history.path === window.location.pathname + window.location.search) {
      history.type = "replace";  // the same view again (Enter after typing): no new entry
    } else if (typed && xhr.hostadminSearch === search.pushed) {
      history.type = "replace";
    } else if (typed) {
      search.pushed = xhr.hostadminSearch;
    }
  });

  // --- Phone width: the filters fold behind "Filters (N active)" ----------------------------
  // Folded unless the user opened them or something in them needs attention (a message);
  // a swap of the page's content keeps the user's choice. Wider, they are always open.
  var narrow = window.matchMedia("(max-width: 800px)");
  var filtersOpen = false;

  function foldFilters() {
    var fold = document.getElementById("filters-fold");
    if (!fold) { return; }
    fold.open = !narrow.matches || filtersOpen || fold.hasAttribute("data-attention");
  }

  document.addEventListener("click", function (event) {
    var summary = event.target instanceof Element ? event.target.closest("#filters-fold > summary") : null;
    if (summary) { filtersOpen = !summary.parentElement.open; }
  });
  narrow.addEventListener("change", foldFilters);
  document.addEventListener("DOMContentLoaded", foldFilters);
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.detail.target && event.detail.target.id === "content") { foldFilters(); }
  });

  // --- Cut-off names and emails: the whole value under the pointer and on a tap ----------
  function markCut(cell) {
    cell.classList.toggle("is-cut", cell.scrollWidth > cell.clientWidth || cell.classList.contains("is-shown"));
  }
  document.addEventListener("mouseover", function (event) {
    var cell = event.target instanceof Element ? event.target.closest("td[title]") : null;
    if (cell) { markCut(cell); }
  });
  // A tap on a cut host name (the row's link) shows the whole name first, as a touch
  // screen shows what a mouse would hover; a second tap opens the row. A mouse click, the
  // keyboard (Enter, "o") and a tap on a name shown whole open it at once.
  var lastPointer = "mouse";
  document.addEventListener("pointerdown", function (event) { lastPointer = event.pointerType; }, true);
  document.addEventListener("keydown", function () { lastPointer = "keyboard"; }, true);
  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    var cell = target ? target.closest("td[title]") : null;
    if (cell) { markCut(cell); }
    var cut = Boolean(cell && cell.classList.contains("is-cut"));
    if (cell && target.closest("a")) {
      if (lastPointer === "touch" && cut && !cell.classList.contains("is-shown")) {
        event.preventDefault();  // shown, not opened
      } else {
        cell = null;  // the link opens the row
      }
    }
    document.querySelectorAll("td.is-shown").forEach(function (other) {
      if (other !== cell) { other.classList.remove("is-shown"); }
    });
    if (cell && cut) { cell.classList.toggle("is-shown"); }
  });

  // The row with the keyboard's focus shows its cut names and emails whole in a strip just
  // under it, over the next row, so j/k or Tab move no row (unfolding them in place made the
  // table jump at every key). A screen reader reads the cells whole anyway: the strip is
  // hidden from it. Without JavaScript the row unfolds in place (app.css).
  function showWhole(row) {
    var wrap = row && row.closest(".table-wrap");
    var strip = document.getElementById("row-whole");
    var cut = row ? Array.prototype.filter.call(row.querySelectorAll("td[title]"), function (td) {
      return td.scrollWidth > td.clientWidth;
    }) : [];
    if (!wrap || !cut.length) {
      if (strip) { strip.hidden = true; }
      return;
    }
    if (!strip || strip.parentNode !== wrap) {
      if (strip) { strip.remove(); }
      strip = document.createElement("div");
      strip.id = "row-whole";
      strip.className = "row-whole";
      strip.setAttribute("aria-hidden", "true");
      wrap.appendChild(strip);
    }
    strip.textContent = cut.map(function (td) { return td.getAttribute("title"); }).join("  ·  ");
    strip.style.top = (row.offsetTop + row.offsetHeight) + "px";
    strip.style.left = wrap.scrollLeft + "px";  // in view when the table scrolls sideways
    strip.hidden = false;
  }
  document.addEventListener("focusin", function (event) {
    var link = event.target instanceof Element ? event.target.closest("#results table.grid tbody td > a") : null;
    showWhole(link && link.matches(":focus-visible") ? link.closest("tr") : null);
  });
  document.addEventListener("focusout", function () { showWhole(null); });

  // --- Back from a detail page: the row opened is scrolled to and marked ----------------
  // Its id is the list URL's fragment (#c-<id>): the detail page's back link has it, and a
  // click on a row writes it into the current entry so the browser's Back has it too.
  var ROW_HASH = /^#c-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

  function markReturnedRow() {
    var match = ROW_HASH.exec(window.location.hash);
    if (!match) { return; }
    var link = document.querySelector("#results tbody td > a[href*='/" + match[1] + "/']");
    var row = link && link.closest("tr");
    if (!row) { return; }
    tableRows().forEach(function (r) { r.classList.toggle("is-current", r === row); });
    row.classList.add("is-opened");
    row.scrollIntoView({ block: "center" });
    link.focus({ preventScroll: true });
  }

  document.addEventListener("click", function (event) {
    if (event.defaultPrevented) { return; }  // a first tap on a cut name: not opened
    var link = event.target instanceof Element ? event.target.closest("#results tbody td > a") : null;
    var match = link && /\/connections\/([0-9a-f-]{36})\//.exec(link.getAttribute("href"));
    if (match) {
      history.replaceState(history.state, "", window.location.pathname + window.location.search + "#c-" + match[1]);
    }
  });
  document.addEventListener("DOMContentLoaded", markReturnedRow);
  window.addEventListener("pageshow", function (event) { if (event.persisted) { markReturnedRow(); } });

  // Copy buttons only make sense with a clipboard.
  function showCopyButtons() {
    document.querySelectorAll("[data-shortcuts][hidden]").forEach(function (b) { b.hidden = false; });
    if (!navigator.clipboard) { return; }
    document.querySelectorAll("[data-copy][hidden]").forEach(function (b) { b.hidden = false; });
  }
  document.addEventListener("DOMContentLoaded", showCopyButtons);
  document.addEventListener("htmx:load", showCopyButtons);  // and in content swapped in

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
