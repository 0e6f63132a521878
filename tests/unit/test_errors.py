"""The one exception tree, and the HTTP status and code each of its classes gets."""

from __future__ import annotations

import pytest

import facesearch.errors as errors
import facesearch.server.errors as server_errors
from facesearch.errors import CatalogError, FaceSearchError, NotFoundError
from facesearch.server.errors import classify

# Every class facesearch raises on purpose, with the (status, code) a client gets for it.
EXPECTED = {
    "FaceSearchError": (500, "error"),
    "ConfigError": (500, "config_error"),
    "InputError": (422, "bad_input"),
    "ImageError": (422, "bad_image"),
    "ImageTooLargeError": (413, "image_too_large"),
    "CorruptImageError": (422, "corrupt_image"),
    "NoFaceError": (422, "no_face"),
    "PoorProbeError": (422, "poor_probe"),
    "ErasedError": (409, "erased"),
    "CaseRequiredError": (422, "bad_input"),
    "NotFoundError": (404, "not_found"),
    "ModelError": (500, "model_error"),
    "ModelFileError": (500, "model_file_error"),
    "CatalogError": (503, "catalog_error"),
    "BlocklistChangedError": (503, "blocklist_changed"),
    "VectorIndexError": (503, "index_error"),
    "IndexRebuildingError": (503, "index_rebuilding"),
    "PdfUnavailableError": (503, "pdf_unavailable"),
    "AccessError": (500, "access_denied"),
    "AuthenticationError": (401, "unauthenticated"),
    "PasswordChangeRequiredError": (401, "password_change_required"),
    "PermissionDeniedError": (403, "forbidden"),
    "TrainingRequiredError": (403, "training_required"),
    "CsrfError": (403, "csrf_failed"),
    "ServerError": (500, "internal"),
    "ConflictError": (409, "conflict"),
    "PayloadTooLargeError": (413, "payload_too_large"),
    "UnsupportedMediaError": (415, "unsupported_media_type"),
    "RateLimitedError": (429, "rate_limited"),
    "BusyError": (503, "timeout"),
    "OverloadedError": (503, "busy"),
}


def _tree(root: type[FaceSearchError]) -> list[type[FaceSearchError]]:
    found = [root]
    for sub in root.__subclasses__():
        if sub.__module__.startswith("facesearch."):
            found += _tree(sub)
    return found


def _make(kind: type[FaceSearchError]) -> FaceSearchError:
    if issubclass(kind, errors.CaseRequiredError):
        return kind("case number needed", ("case",))
    if issubclass(kind, errors.NoFaceError):
        return kind("probe.jpg")
    return kind("the message")


def test_every_exception_class_has_its_status_and_code():
    assert server_errors.ServerError  # the server's own classes are in the tree too
    classes = {kind.__name__: kind for kind in _tree(FaceSearchError)}
    assert set(classes) == set(EXPECTED), "a new exception class needs its row in EXPECTED"
    got = {name: classify(_make(kind))[:2] for name, kind in classes.items()}
    assert got == EXPECTED


def test_not_found_is_not_a_catalog_error():
    """Users, jobs, probes and searches are not found too: a missing one is no database
    failure, and a handler of CatalogError must not catch it."""
    assert issubclass(NotFoundError, FaceSearchError)
    assert not issubclass(NotFoundError, CatalogError)
    assert NotFoundError.__mro__[1] is FaceSearchError


@pytest.mark.parametrize("kind", _tree(NotFoundError), ids=lambda k: k.__name__)
def test_whatever_is_not_found_is_a_404(kind: type[FaceSearchError]):
    assert classify(_make(kind))[0] == 404


def test_a_not_found_is_a_404_whatever_else_it_is():
    class MissingFromCatalog(NotFoundError, CatalogError):
        pass

    class UnreadableCatalog(CatalogError, NotFoundError):
        pass

    assert classify(MissingFromCatalog("gone"))[:2] == (404, "not_found")
    assert classify(UnreadableCatalog("gone"))[:2] == (404, "catalog_error")
    assert classify(CatalogError("broken"))[:2] == (503, "catalog_error")


def test_the_most_specific_class_decides():
    assert classify(errors.ImageTooLargeError("big"))[0] == 413  # not InputError's 422
    assert classify(errors.ErasedError("gone"))[0] == 409
    assert classify(errors.CorruptImageError("bad"))[0] == 422


def test_the_tree_drawn_at_the_top_of_errors_py_is_the_tree():
    drawn = errors.__doc__ or ""
    for kind in _tree(FaceSearchError):
        if kind.__module__ == "facesearch.errors":
            assert kind.__name__ in drawn
    indent = {
        line.split("── ")[1].split()[0]: line.index("── ")
        for line in drawn.splitlines()
        if "── " in line
    }
    assert indent["NotFoundError"] == indent["CatalogError"]  # a sibling, not a child


def test_every_error_pickles_whole_with_its_attributes() -> None:
    """Errors cross from the server's analysis processes by pickle: kind, message, code and
    attributes arrive (constructors that take other arguments than the message were called
    again with the message and lost them, or failed)."""
    import pickle

    from facesearch.server.errors import OverloadedError

    cases = [
        errors.ImageError("not an image", path="uploads/x.jpg"),
        errors.NoFaceError("probe.png"),
        errors.CaseRequiredError("a case is required", ("case", "purpose")),
        errors.NotFoundError("no face 7"),
        OverloadedError("busy", retry_after=3),
    ]
    for error in cases:
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is type(error)
        assert str(back) == str(error) and back.code == error.code
        assert back.__dict__ == error.__dict__
    assert pickle.loads(pickle.dumps(cases[1])).path == "probe.png"
