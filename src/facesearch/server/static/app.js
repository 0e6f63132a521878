// facesearch: a little JavaScript on top of plain forms (everything works without it).
// Search page: preview the chosen photo, box every face (POST /api/v1/detect), pick one.
// Ingest page: upload with a progress bar, then follow the job's progress.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";

  function csrf() {
    const el = document.getElementById("csrf");
    return el ? el.value : "";
  }

  function errorText(body, fallback) {
    try {
      const parsed = JSON.parse(body);
      if (parsed && parsed.error && parsed.error.message) return parsed.error.message;
    } catch (e) { /* not JSON */ }
    return fallback;
  }

  // --- search --------------------------------------------------------------------------
  const form = document.getElementById("search-form");
  if (form) {
    const input = document.getElementById("photo");
    const zone = document.getElementById("dropzone");
    const area = document.getElementById("preview-area");
    const img = document.getElementById("preview");
    const svg = document.getElementById("boxes");
    const faces = document.getElementById("faces");
    const status = document.getElementById("detect-status");
    const manual = document.getElementById("manual-face");
    const button = document.getElementById("search-button");
    let url = null;

    // A photo without a face cannot be searched: say so on the button too.
    function allowSearch(ok, why) {
      if (!button) return;
      button.disabled = !ok;
      button.title = ok ? "" : why;
    }

    function choose(n) {
      svg.querySelectorAll("rect").forEach(function (r) {
        r.classList.toggle("chosen", r.dataset.face === String(n));
      });
      const radio = faces.querySelector('input[value="' + n + '"]');
      if (radio) radio.checked = true;
    }

    function show(result) {
      svg.textContent = "";
      faces.textContent = "";
      svg.setAttribute("viewBox", "0 0 " + result.width + " " + result.height);
      svg.setAttribute("preserveAspectRatio", "none");
      if (!result.faces.length) {
        status.textContent = "No face found in this photo.";
        allowSearch(false, "No face found in this photo: choose another one.");
        return;
      }
      allowSearch(true, "");
      status.textContent = result.faces.length === 1
        ? "One face found."
        : result.faces.length + " faces found: pick the one to search (click a box or a button).";
      result.faces.forEach(function (f) {
        const b = f.bbox;
        const rect = document.createElementNS(SVG, "rect");
        rect.setAttribute("class", "box");
        rect.setAttribute("x", b[0]);
        rect.setAttribute("y", b[1]);
        rect.setAttribute("width", b[2]);
        rect.setAttribute("height", b[3]);
        rect.dataset.face = String(f.face);
        rect.addEventListener("click", function () { choose(f.face); });
        svg.appendChild(rect);
        const label = document.createElementNS(SVG, "text");
        label.setAttribute("class", "box-label");
        label.setAttribute("x", b[0] + 4);
        label.setAttribute("y", b[1] + 18);
        label.textContent = String(f.face);
        svg.appendChild(label);
        const option = document.createElement("label");
        const radio = document.createElement("input");
        radio.type = "radio";
        radio.name = "face";
        radio.value = String(f.face);
        radio.addEventListener("change", function () { choose(f.face); });
        option.appendChild(radio);
        let text = " face " + f.face + " (" + Math.round(f.quality.size) + " px)";
        if (f.problems.length) text += " – " + f.problems.join("; ");
        option.appendChild(document.createTextNode(text));
        faces.appendChild(option);
      });
      if (manual) manual.remove();
      choose(result.main !== null ? result.main : result.faces[0].face);
    }

    function detect(file) {
      if (url) URL.revokeObjectURL(url);
      url = URL.createObjectURL(file);
      img.src = url;
      area.classList.remove("hidden");
      status.textContent = "Finding faces…";
      allowSearch(true, "");
      const data = new FormData();
      data.append("image", file);
      fetch("/api/v1/detect", {
        method: "POST",
        body: data,
        headers: { "X-CSRF-Token": csrf() },
        credentials: "same-origin",
      }).then(function (r) {
        return r.text().then(function (body) {
          if (!r.ok) throw new Error(errorText(body, "could not read the photo"));
          return JSON.parse(body);
        });
      }).then(show).catch(function (e) {
        svg.textContent = "";
        faces.textContent = "";
        status.textContent = e.message;
      });
    }

    input.addEventListener("change", function () {
      if (input.files && input.files[0]) detect(input.files[0]);
    });
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (e) {
      e.preventDefault();
      if (e.dataTransfer && e.dataTransfer.files.length) {
        input.files = e.dataTransfer.files;
        detect(input.files[0]);
      }
    });
    form.addEventListener("submit", function (e) {
      if (button && button.disabled) { e.preventDefault(); return; }
      if (button) { button.disabled = true; button.textContent = "Searching…"; }
    });
  }

  // --- ingest --------------------------------------------------------------------------
  const ingest = document.getElementById("ingest-form");
  if (ingest && window.XMLHttpRequest) {
    const box = document.getElementById("upload-progress");
    const label = document.getElementById("upload-label");
    const bar = document.getElementById("upload-bar");
    const jobLabel = document.getElementById("job-label");
    const jobBar = document.getElementById("job-bar");

    function follow(id) {
      fetch("/api/v1/ingest-jobs/" + id, { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (job) {
          jobBar.classList.remove("hidden");
          jobBar.value = job.progress;
          jobLabel.textContent = job.status + ": " + job.images_seen + " of " + job.images_total +
            " images read, " + job.faces_added + " faces added, " + job.failed + " failed";
          if (job.finished) {
            window.location.href = "/ingest/" + id;
          } else {
            window.setTimeout(function () { follow(id); }, 1000);
          }
        })
        .catch(function () { window.setTimeout(function () { follow(id); }, 2000); });
    }

    ingest.addEventListener("submit", function (e) {
      e.preventDefault();
      const data = new FormData(ingest);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/api/v1/ingest-jobs");
      xhr.setRequestHeader("X-CSRF-Token", csrf());
      box.classList.remove("hidden");
      document.getElementById("upload-button").disabled = true;
      xhr.upload.addEventListener("progress", function (ev) {
        if (ev.lengthComputable) {
          bar.value = ev.loaded / ev.total;
          label.textContent = "Uploading… " + Math.round(100 * ev.loaded / ev.total) + " %";
        }
      });
      xhr.addEventListener("load", function () {
        if (xhr.status === 202) {
          bar.value = 1;
          label.textContent = "Uploaded. Ingesting…";
          follow(JSON.parse(xhr.responseText).id);
        } else {
          label.textContent = "Upload refused: " + errorText(xhr.responseText, "error " + xhr.status);
          document.getElementById("upload-button").disabled = false;
        }
      });
      xhr.addEventListener("error", function () {
        label.textContent = "Upload failed (connection lost).";
        document.getElementById("upload-button").disabled = false;
      });
      xhr.send(data);
    });
  }

  // --- a face crop that cannot be shown --------------------------------------------------
  // An image's error event does not say why it failed, so ask the server once (one GET of the
  // same address): 404 or 410, the gallery photo moved, changed or was erased since it was
  // ingested; 429, the reader opened more photos in the last minute than the read limit lets
  // them (server_read_rate_limit): say so, on the card and once above the page, instead of a
  // false "erased"; if it loads this time, show it.
  const ERASED = "photo not available (moved, changed or erased since it was added)";

  function cardNote(el, text, kind) {
    const note = document.createElement("div");
    note.className = "na" + (kind ? " " + kind : "");
    note.textContent = text;
    el.replaceWith(note);
  }

  function limitBanner(message, retry) {
    if (document.getElementById("read-limit")) return;
    const main = document.getElementById("main");
    if (!main) return;
    const banner = document.createElement("div");
    banner.id = "read-limit";
    banner.className = "error";
    banner.setAttribute("role", "alert");
    banner.textContent = "Some photos are not shown: " + message + ". Wait " +
      (retry ? retry + " s" : "a minute") + " and reload the page.";
    main.insertBefore(banner, main.firstChild);
  }

  function explain(el) {
    const url = el.currentSrc || el.src;
    if (!url || el.dataset.explained || url.indexOf("blob:") === 0) {
      cardNote(el, ERASED.replace(/ \(.*\)/, ""), "");
      return;
    }
    el.dataset.explained = "1";
    fetch(url, { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      if (r.ok) {
        return r.blob().then(function (b) { el.src = URL.createObjectURL(b); });
      }
      return r.text().then(function (body) {
        if (r.status === 429) {
          const retry = r.headers.get("Retry-After");
          cardNote(el, "too many photos opened in the last minute: wait " +
            (retry ? retry + " s" : "a minute") + " and reload", "read-limit");
          limitBanner(errorText(body, "the read limit"), retry);
        } else if (r.status === 404 || r.status === 410) {
          cardNote(el, ERASED, "");
        } else {
          cardNote(el, "photo not shown: " + errorText(body, "error " + r.status), "");
        }
      });
    }).catch(function () {
      cardNote(el, "photo not shown (the server did not answer): reload the page", "");
    });
  }

  function failed(el) {
    return el instanceof HTMLImageElement && el.closest(".card") !== null;
  }

  document.addEventListener("error", function (event) {
    if (failed(event.target)) explain(event.target);
  }, true);
  // those that failed before this script ran (it is deferred)
  document.querySelectorAll(".card img").forEach(function (el) {
    if (el.complete && el.naturalWidth === 0 && el.getAttribute("src")) explain(el);
  });
})();
