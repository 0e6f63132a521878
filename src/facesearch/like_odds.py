"""How broad an erasure "like" a photo is, before it is made: the strangers it takes along.

A like erasure removes every face of the eraser's collections at or above a threshold, set by
a false match rate (``FACESEARCH_BLOCKLIST_MAX_FMR``, or the request's ``max_fmr``). Faces of
other people score that high by chance at that rate: in a gallery of ``faces`` faces about
``fmr x faces`` of them (at 1e-4: 1.6 in all of LFW, 100 in a million, 3 million in 30
billion). Each would be erased with the person's own, and nobody could tell which. So an
erasure expected to take more than ``FACESEARCH_ERASE_LIKE_MAX_STRANGERS`` strangers is
refused before anything is removed, naming the rate that would keep within it (if the
calibration resolves one that low) and the other way: search the photo, check the candidates,
erase them by face id. ``Engine.forget`` refuses such an erasure itself; the application layer
counts an organisation's own collections (``app.erase``), and the erase-by-photo page shows the
same figure and refusal in its preview. A face match is a lead, not an identification.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from facesearch.results import PersonLike

if TYPE_CHECKING:
    from facesearch.engine import Engine

__all__ = ["LikeOdds", "like_odds"]


@dataclass(frozen=True)
class LikeOdds:
    """A like erasure's threshold, its false match rate, the faces it searches and the
    strangers expected among them; ``refusal``: why it may not be made, or None."""

    threshold: float
    fmr: float
    gallery_faces: int
    max_strangers: float
    min_fmr: float  # the rarest rate the calibration resolves

    @property
    def expected_strangers(self) -> float:
        return self.fmr * self.gallery_faces

    @property
    def suggested_fmr(self) -> float | None:
        """The largest false match rate of two significant figures, rounded down, that keeps
        the strangers within the limit; None when the calibration resolves none that low."""
        if self.gallery_faces <= 0:
            return None
        rate = self.max_strangers / self.gallery_faces
        if rate < self.min_fmr or rate <= 0:
            return None
        power = math.floor(math.log10(rate)) - 1
        return float(math.floor(rate / 10.0**power) * 10.0**power)

    @property
    def refusal(self) -> str | None:
        if self.expected_strangers <= self.max_strangers:
            return None
        head = (
            f"an erasure like this photo would also take about {self.expected_strangers:.3g} "
            f"faces of other people, who match it that well by chance (false match rate "
            f"{self.fmr:.1e} x {self.gallery_faces:,} faces; at most {self.max_strangers:g} "
            "may be expected: FACESEARCH_ERASE_LIKE_MAX_STRANGERS)"
        )
        other = "search the photo, check its candidates and erase them by face id"
        rate = self.suggested_fmr
        if rate is None:
            return (
                f"{head}; the calibration resolves no false match rate below "
                f"{self.min_fmr:.1e}, so {other}"
            )
        return f"{head}: give a false match rate of {rate:.1e} or lower, or {other}"

    def as_json(self) -> dict[str, Any]:
        return {
            "threshold": round(self.threshold, 4),
            "fmr": self.fmr,
            "gallery_faces": self.gallery_faces,
            "expected_strangers": round(self.expected_strangers, 3),
            "max_strangers": self.max_strangers,
            "suggested_fmr": self.suggested_fmr if self.refusal else None,
        }


def like_odds(engine: Engine, person: PersonLike, collections: Sequence[str] | None) -> LikeOdds:
    """The odds of a like erasure of ``person`` in ``collections`` (None: all of them): the
    gallery counted is where it erases (an organisation's own collections, not the
    deployment, whose size is not an organisation's to know)."""
    table = engine.calibration
    return LikeOdds(
        threshold=person.threshold,
        fmr=table.fmr_at(person.threshold),
        gallery_faces=engine.indexes.size(collections),
        max_strangers=engine.settings.matching.erase_like_max_strangers,
        min_fmr=table.min_fmr,
    )
