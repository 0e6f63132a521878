"""An operator's own calibration (``facesearch calibrate DIR``): every pair of the main faces
of ``DIR/Person/photo`` counted into the first model's table and, while a second model is on,
into the table of the fused score, which verify decides by. The fusion's six numbers stay the
shipped ones (fitted on LFW): they only put both models' scores on one scale, and the fused
table prices that scale on the operator's photos. One file holds both tables
(``core.calibration.save_table``); with ``FACESEARCH_CALIBRATION_FILE`` set, verify uses the
file's fused table or refuses (``load_fused_table``), never the shipped one in its place.

A table that cannot resolve the rate verify decides at (``verify_max_fmr``) would make every
verify fail, so ``check_resolves`` refuses it before anything is written, saying how many
people a usable table takes. Measured on LFW (random people with 5 or more photos, 5 photos
each, both models, conservative tables, two draws each): 50 people resolve down to about
7e-4 with SFace alone but only 1.3e-3 to 1.6e-3 fused; 100 people about 2e-4 either way;
200 people 3e-5 (SFace) and 6e-5 to 8e-5 (fused). The floor falls with the number of people
more than with pairs: pairs that share a person move together (``core.fmr_bound``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facesearch.core.calibration import CalibrationTable, build_table, table_from_rows
from facesearch.core.fusion import load_fusion
from facesearch.errors import InputError
from facesearch.evaluation.lfw import IMAGES, embed_images
from facesearch.gallery.sources import is_image_name
from facesearch.pipeline import FacePipeline

__all__ = ["NEEDS", "OwnTables", "build_own_tables", "check_resolves", "folder_root"]

# what a usable table takes, measured as the module docstring says
NEEDS = (
    "on LFW, resolving 1e-3 took about 100 people with 5 photos each (500 photos, 120,000 "
    "impostor pairs; 50 people were not enough for the fused score) and 1e-4 about 200 "
    "people (1,000 photos)"
)


@dataclass(frozen=True)
class OwnTables:
    """The first model's table of a folder and, with a second model on, the fused score's."""

    table: CalibrationTable
    fused: CalibrationTable | None
    images: int  # photos with a face, the ones counted
    people: int

    @property
    def verify_table(self) -> CalibrationTable:
        """The table verify decides by: the fused one where there is one."""
        return self.fused if self.fused is not None else self.table


def folder_root(data: Path) -> Path:
    """The folder of Person/photo files: ``data``, or its LFW images folder where it has one."""
    return data / IMAGES if (data / IMAGES).is_dir() else data


def build_own_tables(pipeline: FacePipeline, root: Path, *, progress: bool = True) -> OwnTables:
    """Both tables of every pair of the main faces of ``root/Person/photo``; the fused one only
    while a second model is on. The embeddings are cached (``lfw.embed_images``) only for the
    evaluation data under ``settings.lfw_dir``: an operator's own photos are people's faces,
    and their vectors are not left in the cache folder (where no erasure would find them)."""
    names = sorted(str(p.relative_to(root)) for p in root.glob("*/*") if is_image_name(p.name))
    if not names:
        raise InputError(f"{root}: no Person/photo image files to calibrate from")
    evaluation = root.resolve().is_relative_to(pipeline.settings.lfw_dir.resolve())
    emb = embed_images(
        pipeline,
        root,
        names,
        progress=progress,
        second=True,
        label=f"embedding {root.name}",
        cache=evaluation,
    )
    labels = [n.split("/")[0] for n in np.asarray(names)[emb.found]]
    people = len(set(labels))
    source = f"{root} ({len(labels):,} images, {people:,} people)"
    x = emb.embeddings[emb.found]
    table = build_table(x, labels, model_id=emb.model_ids[0], source=source)
    fused = None
    if emb.second is not None:
        fusion = load_fusion(*emb.model_ids)
        xs = (x.astype(np.float64), emb.second[emb.found].astype(np.float64))
        fused = table_from_rows(
            lambda a, b: fusion.fuse(*(m[a:b] @ m.T for m in xs)),
            labels,
            model_id=fusion.model_id,
            source=f"{source}, both models' scores fused by the shipped fusion",
        )
    return OwnTables(table, fused, len(labels), people)


def check_resolves(tables: OwnTables, root: Path, max_fmr: float, setting: str, note: str) -> None:
    """InputError unless the table verify decides by resolves ``max_fmr``, the value of
    ``setting`` (its environment variable; ``note``: '(its default)' or ''), naming the
    table's floor, what a usable table takes, and that nothing was written."""
    table = tables.verify_table
    if max_fmr >= table.min_fmr:
        return
    which = "the fused score's table" if tables.fused is not None else "the table"
    raise InputError(
        f"{root}: {tables.people:,} people and {tables.images:,} photos with a face give "
        f"{table.impostor_pairs:,} impostor pairs, too few for the rate verify decides at: "
        f"{setting}={max_fmr:g}{note} is below what {which} can resolve "
        f"({table.min_fmr:.1e}); nothing was written. {NEEDS[0].upper()}{NEEDS[1:]}: add "
        f"people, or set {setting} to {table.lowest_askable} or more"
    )
