"""The records of people (``app.people``): a person of a collection, its faces, and every
person of a collection as one read returned them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from facesearch.gallery.catalog import MemberFace, StoredPerson
from facesearch.types import BBox

__all__ = ["PeopleRecord", "PersonFace", "PersonRecord"]


@dataclass(frozen=True)
class PersonFace:
    """A face of a person: where it is, how well it sits in its person, whether pinned."""

    face_id: int
    image_id: int
    image_path: str
    bbox: BBox
    certainty: float  # similarity to the person's other faces (1.0 alone); lowest first
    pinned: bool  # decided by a reviewer or a label: a build never moves it

    @classmethod
    def of(cls, face: MemberFace) -> PersonFace:
        return cls(face.face_id, face.image_id, face.source, face.bbox, face.certainty, face.pinned)

    def as_json(
        self, show_path: Callable[[str], str] = str, *, detail: bool = False
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "face_id": self.face_id,
            "image_path": show_path(self.image_path),
            "bbox": self.bbox.as_list(),
        }
        if detail:
            out.update(
                image_id=self.image_id, certainty=round(self.certainty, 5), pinned=self.pinned
            )
        return out


@dataclass(frozen=True)
class PersonRecord:
    """A person of a collection and every face of it, the least certain first."""

    person: int
    name: str | None
    collection: str
    faces: tuple[PersonFace, ...]
    read: int | None = None  # the audit entry of the read that returned it (``show_person``)

    @classmethod
    def of(cls, stored: StoredPerson) -> PersonRecord:
        faces = tuple(PersonFace.of(f) for f in stored.faces)
        return cls(stored.id, stored.name, stored.collection, faces)

    @property
    def cover(self) -> PersonFace:
        """The face that shows the person best (the most certain)."""
        return max(self.faces, key=lambda f: (f.certainty, -f.face_id))

    def as_json(
        self, show_path: Callable[[str], str] = str, *, detail: bool = False
    ) -> dict[str, Any]:
        """``{"person", "name", "faces": [{"face_id", "image_path", "bbox"}]}`` (the shape of
        ``people list --json``); ``detail`` adds the collection, the cover face and, per face,
        its image id, certainty and pin."""
        out: dict[str, Any] = {"person": self.person, "name": self.name}
        if detail:
            out.update(collection=self.collection, cover=self.cover.face_id)
        out["faces"] = [f.as_json(show_path, detail=detail) for f in self.faces]
        return out


@dataclass(frozen=True)
class PeoplePage:
    """One page of a collection's persons, the most faces first (``people.people_page``)."""

    at: int  # the page shown, from 1 (past the last: the last)
    pages: int
    persons: tuple[PersonRecord, ...]


@dataclass(frozen=True)
class PeopleRecord:
    """Every person of a collection (every face in exactly one), as read (entry ``id``);
    ``page``: the page of them the read showed, when it showed one (the People page's)."""

    id: int  # the read's audit entry
    collection: str
    people: tuple[PersonRecord, ...]
    page: PeoplePage | None = None

    def as_json(
        self, show_path: Callable[[str], str] = str, *, detail: bool = False
    ) -> dict[str, Any]:
        return {"people": [p.as_json(show_path, detail=detail) for p in self.people]}
