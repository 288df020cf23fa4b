// Swerve demo site: a little progressive enhancement, no dependencies, no external requests.
//
//  - a light/dark/system theme switch, remembered in localStorage;
//  - "Copy" buttons on code blocks;
//  - a live table of the response headers Swerve sent for this page (a same-origin HEAD request);
//  - a table of the site's own assets with the Content-Type, size and validators Swerve serves them with.
//
// Everything is written with textContent: nothing from the network is ever parsed as HTML.

"use strict";

(function () {
  const THEME_KEY = "swerve-theme";
  const THEMES = ["system", "light", "dark"];

  // ---- Theme --------------------------------------------------------------------------------------

  function storedTheme() {
    try {
      const value = window.localStorage.getItem(THEME_KEY);
      return THEMES.includes(value) ? value : "system";
    } catch (error) {
      return "system"; // storage disabled (private mode, file://): just follow the system
    }
  }

  function applyTheme(theme) {
    const root = document.documentElement;
    if (theme === "system") {
      root.removeAttribute("data-theme");
    } else {
      root.setAttribute("data-theme", theme);
    }
    for (const button of document.querySelectorAll(".theme-toggle")) {
      button.textContent = "Theme: " + theme;
      button.setAttribute("aria-label", "Colour theme: " + theme + " (click to change)");
    }
  }

  function setUpThemeToggle() {
    let theme = storedTheme();
    applyTheme(theme);
    for (const button of document.querySelectorAll(".theme-toggle")) {
      button.hidden = false;
      button.addEventListener("click", function () {
        theme = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length];
        applyTheme(theme);
        try {
          window.localStorage.setItem(THEME_KEY, theme);
        } catch (error) {
          // not persisted; the choice still holds for this page
        }
      });
    }
  }

  // ---- Copy buttons -------------------------------------------------------------------------------

  function setUpCopyButtons() {
    if (!navigator.clipboard || !window.isSecureContext) {
      return; // the Clipboard API needs https or localhost
    }
    for (const pre of document.querySelectorAll("pre")) {
      const code = pre.querySelector("code") || pre;
      const button = document.createElement("button");
      button.type = "button";
      button.className = "copy";
      button.textContent = "Copy";
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(code.textContent.trim()).then(
          function () { flash(button, "Copied"); },
          function () { flash(button, "Failed"); }
        );
      });
      pre.appendChild(button);
    }
  }

  function flash(button, text) {
    button.textContent = text;
    window.setTimeout(function () { button.textContent = "Copy"; }, 1500);
  }

  // ---- Tables of what the server sent -------------------------------------------------------------

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) {
      td.className = className;
    }
    return td;
  }

  function row(cells) {
    const tr = document.createElement("tr");
    for (const td of cells) {
      tr.appendChild(td);
    }
    return tr;
  }

  function formatBytes(value) {
    const bytes = Number(value);
    if (value === null || !Number.isFinite(bytes)) {
      return "–";
    }
    if (bytes < 1024) {
      return bytes + " B";
    }
    const units = ["KiB", "MiB", "GiB"];
    let size = bytes / 1024;
    let unit = 0;
    while (size >= 1024 && unit < units.length - 1) {
      size /= 1024;
      unit += 1;
    }
    return size.toFixed(size < 10 ? 1 : 0) + " " + units[unit];
  }

  function statusCell(response) {
    const text = response.status + (response.statusText ? " " + response.statusText : "");
    return cell(text, response.ok ? "status-ok" : "status-warn");
  }

  // HEAD the current page (no cache, so these are the headers Swerve sends right now) and list them.
  async function showPageHeaders() {
    const table = document.getElementById("headers-table");
    if (!table) {
      return;
    }
    const body = table.querySelector("tbody");
    const summary = document.getElementById("headers-summary");
    const started = performance.now();
    try {
      const response = await fetch(window.location.pathname, { method: "HEAD", cache: "no-store" });
      const elapsed = performance.now() - started;
      const names = [];
      response.headers.forEach(function (value, name) { names.push([name, value]); });
      names.sort(function (a, b) { return a[0].localeCompare(b[0]); });
      body.replaceChildren();
      for (const [name, value] of names) {
        body.appendChild(row([cell(name, "mono"), cell(value, "mono")]));
      }
      if (summary) {
        summary.textContent = "HEAD " + window.location.pathname + " → " + response.status + " " +
          response.statusText + " in " + elapsed.toFixed(1) + " ms (" + names.length + " header fields).";
      }
    } catch (error) {
      body.replaceChildren(row([cell("(unavailable)", "muted"), cell(String(error), "muted")]));
      if (summary) {
        summary.textContent = "Could not ask the server; open this page over http:// rather than from a file.";
      }
    }
  }

  // HEAD each asset the page lists in data-assets and show how Swerve types and sizes it.
  async function showAssets() {
    const table = document.getElementById("assets-table");
    if (!table) {
      return;
    }
    const body = table.querySelector("tbody");
    const paths = (table.getAttribute("data-assets") || "").split(/\s+/).filter(Boolean);
    const rows = await Promise.all(paths.map(async function (path) {
      try {
        const response = await fetch(path, { method: "HEAD", cache: "no-store", redirect: "manual" });
        if (response.type === "opaqueredirect") {
          return row([cell(path, "mono"), cell("redirect", "status-warn"), cell("–"), cell("–", "num"),
            cell("–")]);
        }
        return row([
          cell(path, "mono"),
          statusCell(response),
          cell(response.headers.get("content-type") || "–", "mono"),
          cell(formatBytes(response.headers.get("content-length")), "num"),
          cell(response.headers.get("etag") || response.headers.get("last-modified") || "–", "mono"),
        ]);
      } catch (error) {
        return row([cell(path, "mono"), cell("error", "status-warn"), cell(String(error)), cell("–", "num"),
          cell("–")]);
      }
    }));
    body.replaceChildren(...rows);
  }

  function setUpRefresh() {
    const button = document.getElementById("refresh-headers");
    if (!button) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      showPageHeaders();
      showAssets();
    });
  }

  function start() {
    setUpThemeToggle();
    setUpCopyButtons();
    setUpRefresh();
    if (window.location.protocol === "http:" || window.location.protocol === "https:") {
      showPageHeaders();
      showAssets();
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
