"""A self-contained HTML page for one search: probe face and candidate faces side by side.

Face crops are read from the source images at report time (facesearch stores no crops) and
embedded as data: URIs, so the page is one file that opens anywhere without a server.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from facesearch.search import LEAD_NOTE, SearchResult, describe_expected
from facesearch.types import BBox

if TYPE_CHECKING:
    from facesearch.engine import Engine


def face_crop_jpeg(pixels_source: bytes, bbox: BBox, max_bytes: int, max_pixels: int) -> bytes:
    """A JPEG of the face box widened by 30 %, at most 160 px."""
    from facesearch.decode import decode_image

    decoded = decode_image(pixels_source, max_bytes=max_bytes, max_pixels=max_pixels)
    image = Image.fromarray(decoded.pixels)
    pad_w, pad_h = bbox.w * 0.3, bbox.h * 0.3
    box = (
        max(0, int(bbox.x - pad_w)),
        max(0, int(bbox.y - pad_h)),
        min(image.width, int(bbox.x + bbox.w + pad_w)),
        min(image.height, int(bbox.y + bbox.h + pad_h)),
    )
    crop = image.crop(box)
    crop.thumbnail((160, 160))
    buf = io.BytesIO()
    crop.save(buf, format="JPEG", quality=88)
    return buf.getvalue()


def _data_uri(jpeg: bytes | None) -> str:
    if jpeg is None:
        return ""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()


def render(result: SearchResult, engine: Engine) -> str:
    s = engine.settings
    probe_bytes = engine.read_input(result.probe).data if Path(result.probe).exists() else None
    esc = html.escape
    rows = []
    for pf in result.faces:
        probe_img = ""
        if probe_bytes is not None:
            probe_img = _data_uri(
                face_crop_jpeg(probe_bytes, pf.bbox, s.max_file_bytes, s.max_pixels)
            )
        cards = []
        for h in pf.hits:
            try:
                data = engine.read_input(h.image_path).data
                crop = _data_uri(face_crop_jpeg(data, h.bbox, s.max_file_bytes, s.max_pixels))
            except Exception:  # a moved or deleted source must not break the report
                crop = ""
            img = (
                f'<img src="{crop}" alt="candidate face">'
                if crop
                else "<div class=na>source not available</div>"
            )
            cards.append(
                f"<div class=card>{img}<div><b>#{h.rank}</b> similarity {h.similarity:.3f}</div>"
                f"<div>{esc(h.subject or '(no label)')}</div>"
                f"<div class=small>{esc(h.fmr_words)}; {describe_expected(h.expected_false)} "
                f"such strangers expected in {result.gallery_faces:,} faces</div>"
                f"<div class=small>face {h.face_id} in {esc(h.image_path)}</div></div>"
            )
        warn = "".join(f"<div class=warn>{esc(w)}</div>" for w in pf.warnings)
        body = "".join(cards) or "<p>No candidate above the threshold.</p>"
        if pf.refused:
            body = "<p>Not searched: the probe face is too poor.</p>"
        rows.append(
            f"<section><h2>Probe face {pf.face}</h2><div class=row><div class='card probe'>"
            f"<img src='{probe_img}' alt='probe face'><div>probe</div></div>{body}</div>"
            f"{warn}</section>"
        )
    threshold = (
        f"none (top {result.top})" if result.threshold is None else f"{result.threshold:.4f}"
    )
    return f"""<!doctype html><html lang=en><head><meta charset=utf-8>
<meta name=viewport content="width=device-width, initial-scale=1">
<title>facesearch report</title><style>
body{{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}}
.lead{{background:#fff3cd;border:1px solid #e0b000;padding:.8rem;border-radius:6px;font-weight:600}}
.row{{display:flex;flex-wrap:wrap;gap:.8rem}}
.card{{border:1px solid #ccc;border-radius:6px;padding:.5rem;width:170px;font-size:.9rem}}
.card img{{width:160px;height:160px;object-fit:cover;display:block}}
.probe{{border-color:#1a5fb4;border-width:2px}}
.small{{font-size:.75rem;color:#555;overflow-wrap:anywhere}}
.warn{{color:#a40000}} .na{{width:160px;height:160px;background:#eee}}
</style></head><body>
<h1>facesearch search report</h1>
<p class=lead>{esc(LEAD_NOTE)}</p>
<p>Probe {esc(result.probe)} (sha256 {result.probe_sha256[:16]}...), searched
{result.gallery_faces:,} faces in {esc(", ".join(result.collections))} at {esc(result.started)}.
Threshold: {threshold}.</p>
{"".join(rows)}
</body></html>"""


def write_report(result: SearchResult, path: Path, engine: Engine) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(result, engine), encoding="utf-8")
