"""A report page printed to PDF by Debian's chromium, headless, as a subprocess.

The HTML is self-contained (images as data: URIs), so chromium needs no server and no network:
it is written to a private temporary folder, printed with ``--print-to-pdf`` and read back.
Without chromium, or when it fails or runs past ``timeout``, ``PdfUnavailableError`` says so;
the HTML report does not depend on it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from facesearch.errors import PdfUnavailableError

__all__ = ["find_chromium", "html_to_pdf", "require_chromium"]

CANDIDATES = ("chromium", "chromium-browser", "/usr/bin/chromium")
TIMEOUT_S = 60.0


def find_chromium() -> Path | None:
    """Debian's chromium on PATH (or at /usr/bin/chromium), or None."""
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def require_chromium() -> Path:
    """The chromium to print with; PdfUnavailableError when there is none."""
    chromium = find_chromium()
    if chromium is None:
        raise PdfUnavailableError(
            "PDF reports need chromium (apt-get install chromium); the HTML report works without"
        )
    return chromium


def html_to_pdf(page: str, *, timeout: float = TIMEOUT_S) -> bytes:
    """The PDF of the HTML ``page``, printed by headless chromium."""
    chromium = require_chromium()
    with tempfile.TemporaryDirectory(prefix="facesearch-report-") as tmp:
        folder = Path(tmp)
        source, out = folder / "report.html", folder / "report.pdf"
        source.write_text(page, encoding="utf-8")
        cmd = [
            str(chromium),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--no-pdf-header-footer",
            f"--user-data-dir={folder / 'profile'}",
            f"--print-to-pdf={out}",
            source.as_uri(),
        ]
        env = {**os.environ, "HOME": str(folder)}  # chromium writes its settings there
        try:
            subprocess.run(cmd, capture_output=True, timeout=timeout, check=True, env=env)
        except subprocess.TimeoutExpired as exc:
            raise PdfUnavailableError(
                f"chromium did not print the report in {timeout:g} s"
            ) from exc
        except (subprocess.CalledProcessError, OSError) as exc:
            raise PdfUnavailableError(f"chromium could not print the report: {exc}") from exc
        if not out.is_file() or out.stat().st_size == 0:
            raise PdfUnavailableError("chromium printed no PDF")
        return out.read_bytes()
