"""kill -9 an ingest of 1,000 LFW images at a random moment, resume it, and compare the final
catalog and index with an uninterrupted run's: they must be identical."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from facesearch.gallery.catalog import Catalog
from facesearch.gallery.vectors import load_index
from facesearch.settings import Settings

pytestmark = [pytest.mark.lfw, pytest.mark.slow]

N_IMAGES = 1000
KILL_ATTEMPTS = 3


def ingest_cmd(listing: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "facesearch",
        "ingest",
        str(listing),
        "--label-from-dir",
        "--json",
    ]


def env_for(settings: Settings, home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "FACESEARCH_HOME": str(home),
        "FACESEARCH_CACHE_DIR": str(settings.cache_dir),
    }


def snapshot(home: Path, model_id: str) -> dict[str, object]:
    """Everything that must match, keyed by content (ids may differ between runs)."""
    with Catalog.open_home(home) as cat:
        faces = []
        by_id: dict[int, tuple[str, int]] = {}
        vec_by_key = {}
        for info in cat.collections():
            for ids, vecs in cat.face_vectors([info.name], model_id):
                for fid, rec in zip(ids.tolist(), cat.faces(ids.tolist()), strict=True):
                    img = cat.image(rec.image_id)
                    key = (img.sha256, rec.face_index)
                    faces.append((key, rec.subject, tuple(round(v, 1) for v in rec.bbox.as_list())))
                    by_id[fid] = key
                vec_by_key.update(zip([by_id[i] for i in ids.tolist()], vecs, strict=True))
        state = cat.state(model_id)
        images = sorted(
            (cat.image(i).sha256, cat.image(i).source)
            for i in {r.image_id for r in cat.faces(list(by_id))}
        )
    manifest_dirs = sorted(p for p in (home / "index").iterdir() if p.is_dir())
    index_ids: list[int] = []
    for d in manifest_dirs:
        index_ids.extend(load_index(d).ids().tolist())
    return {
        "faces": sorted(faces),
        "images": images,
        "count": state.face_count,
        "index_keys": sorted(by_id[i] for i in index_ids),
        "vectors": vec_by_key,
    }


def test_kill_9_then_resume_equals_uninterrupted(
    settings: Settings, lfw: Path, tmp_path: Path
) -> None:
    files = sorted((lfw / "lfw-deepfunneled").glob("*/*.jpg"))[:N_IMAGES]
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(map(str, files)))

    t0 = time.monotonic()
    ref_home = tmp_path / "ref"
    done = subprocess.run(
        ingest_cmd(listing),
        env=env_for(settings, ref_home),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    duration = time.monotonic() - t0

    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    # A run can be faster than the reference run (the machine's load changes): one that ends
    # before its kill is run again into a fresh home, killed earlier.
    for attempt in range(KILL_ATTEMPTS):
        moment = rng.uniform(0.25, 0.85) * duration * 0.6**attempt
        print(f"killing at {moment:.1f} s of a {duration:.1f} s run (seed {seed})")
        crash_home = tmp_path / f"crash{attempt}"
        proc = subprocess.Popen(
            ingest_cmd(listing),
            env=env_for(settings, crash_home),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(moment)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        if proc.returncode == -signal.SIGKILL:
            break
    assert proc.returncode == -signal.SIGKILL, f"{KILL_ATTEMPTS} runs ended before their kill"

    resumed = subprocess.run(
        ingest_cmd(listing),
        env=env_for(settings, crash_home),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr

    from facesearch.models.registry import BUILTIN

    model_id = next(s for s in BUILTIN if s.name == "sface").model_id
    ref = snapshot(ref_home, model_id)
    got = snapshot(crash_home, model_id)
    assert got["count"] == ref["count"] > N_IMAGES * 0.9
    assert got["images"] == ref["images"]
    assert got["faces"] == ref["faces"]
    keys = sorted(k for k, _, _ in ref["faces"])  # type: ignore[attr-defined]
    assert ref["index_keys"] == keys
    assert got["index_keys"] == keys
    ref_vecs, got_vecs = ref["vectors"], got["vectors"]
    assert isinstance(ref_vecs, dict) and isinstance(got_vecs, dict)
    for key, vec in ref_vecs.items():
        np.testing.assert_allclose(got_vecs[key], vec, atol=1e-6)
