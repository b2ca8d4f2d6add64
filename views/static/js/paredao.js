// Paredão: what every page shares. The server's clock (countdowns count from the server's
// time, not from the viewer's clock alone), live countdowns, photo fallbacks, confirmations.
"use strict";

(function () {
  // The page carries the server's time when it was rendered. The browser's time at that
  // moment is when the response started to arrive (Navigation Timing), so the offset holds
  // even when this script loads late; without that API, the script's start time is used.
  function clockOffsetMs() {
    const serverNow = Date.parse(document.body.dataset.serverNow || "");
    if (Number.isNaN(serverNow)) return 0;
    let browserThen = Date.now();
    const entries = performance.getEntriesByType ? performance.getEntriesByType("navigation") : [];
    if (entries.length && entries[0].responseStart > 0) {
      browserThen = performance.timeOrigin + entries[0].responseStart;
    }
    return serverNow - browserThen;
  }

  const offsetMs = clockOffsetMs();

  /** The server's current time, in epoch milliseconds. */
  function serverNow() {
    return Date.now() + offsetMs;
  }

  /** Time left in words, exactly as the server writes it (views/web/formatting.py time_left). */
  function timeLeft(untilMs, nowMs) {
    let seconds = Math.ceil((untilMs - nowMs) / 1000);
    if (seconds <= 0) return "encerrado";
    const days = Math.floor(seconds / 86400);
    seconds -= days * 86400;
    const hours = Math.floor(seconds / 3600);
    seconds -= hours * 3600;
    const minutes = Math.floor(seconds / 60);
    seconds -= minutes * 60;
    const two = (n) => String(n).padStart(2, "0");
    if (days) return `${days} ${days === 1 ? "dia" : "dias"} e ${hours} h`;
    if (hours) return `${hours} h ${two(minutes)} min`;
    return `${minutes} min ${two(seconds)} s`;
  }

  function tickCountdowns() {
    const now = serverNow();
    for (const el of document.querySelectorAll("[data-countdown]")) {
      const until = Date.parse(el.dataset.countdown);
      const value = el.querySelector("[data-countdown-value]");
      if (!value || Number.isNaN(until)) continue;
      const text = timeLeft(until, now);
      if (value.textContent !== text) value.textContent = text;
      el.classList.toggle("countdown--over", until <= now);
    }
  }

  /** A moment's clock time in Brasília, as the pages write it. */
  function brasiliaTime(ms) {
    return new Date(ms).toLocaleTimeString("pt-BR", { timeZone: "America/Sao_Paulo" });
  }

  /** GET a JSON resource, never from the browser's cache; an error answer throws "HTTP <status>"
   * (an Error whose `status` is the code), a failed connection the fetch's TypeError. */
  async function fetchJSON(path) {
    const response = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" });
    if (!response.ok) throw Object.assign(new Error(`HTTP ${response.status}`), { status: response.status });
    return response.json();
  }

  // A photo that does not load gives way to the nominee's initials.
  function showInitials(img) {
    const avatar = img.closest(".avatar");
    if (!avatar) return;
    const span = document.createElement("span");
    span.className = "avatar__initials";
    span.setAttribute("aria-hidden", "true");
    span.textContent = avatar.dataset.initials || "?";
    img.replaceWith(span);
  }

  function watchPhotos() {
    for (const img of document.querySelectorAll(".avatar img")) {
      if (img.complete && img.naturalWidth === 0) showInitials(img);
      else img.addEventListener("error", () => showInitials(img), { once: true });
    }
  }

  // Forms that do something irreversible ask first.
  function confirmForms() {
    for (const form of document.querySelectorAll("form[data-confirm]")) {
      form.addEventListener("submit", (event) => {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    }
  }

  // Other scripts (bytes.js) may add to the same namespace.
  window.Paredao = Object.assign(window.Paredao || {}, {
    serverNow,
    timeLeft,
    tickCountdowns,
    brasiliaTime,
    fetchJSON,
  });

  document.addEventListener("DOMContentLoaded", () => {
    watchPhotos();
    confirmForms();
    tickCountdowns();
    setInterval(tickCountdowns, 1000);
  });
})();
