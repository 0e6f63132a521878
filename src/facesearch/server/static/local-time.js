// facesearch: show every <time datetime="...Z"> of a page in the reader's own time zone.
// The server writes UTC ("2026-11-30 13:05:12 UTC"); without JavaScript that text stays.
"use strict";

(function () {
  const pad = (n) => String(n).padStart(2, "0");
  function zone(d) {
    try {
      const parts = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" }).formatToParts(d);
      const name = parts.find((p) => p.type === "timeZoneName");
      if (name) return name.value;
    } catch (e) { /* no Intl: fall back to the offset */ }
    const minutes = -d.getTimezoneOffset();
    const sign = minutes >= 0 ? "+" : "-";
    return "UTC" + sign + pad(Math.floor(Math.abs(minutes) / 60)) + ":" + pad(Math.abs(minutes) % 60);
  }
  for (const el of document.querySelectorAll("time[datetime]")) {
    const d = new Date(el.getAttribute("datetime"));
    if (isNaN(d.getTime())) continue;
    if (!el.title) el.title = el.textContent;  // the UTC time, on hover
    el.textContent = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + " " + zone(d);
    el.classList.add("local");
  }
})();
