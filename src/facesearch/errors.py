"""The one exception tree of facesearch.

    FaceSearchError                 anything facesearch raises on purpose
    ├── ConfigError                 a setting or option has a bad value
    ├── InputError                  the caller's input cannot be used
    │   ├── ImageError              a file is not a usable image (carries .path)
    │   │   ├── ImageTooLargeError  over the byte or pixel limit
    │   │   └── CorruptImageError   truncated, zero-byte, not an image, bad format
    │   ├── NoFaceError             an image holds no face (carries .path)
    │   ├── PoorProbeError          a face too small, blurred or turned to search with
    │   ├── ErasedError             the face was erased: it cannot be acted on any more
    │   └── CaseRequiredError       a use without the case number or purpose it needs
    ├── ModelError                  a model cannot be loaded or run
    │   └── ModelFileError          a model file is missing or its sha256 is wrong
    ├── NotFoundError               what was asked for does not exist: a face, image,
    │                               subject, collection, user, job, probe, search ...
    ├── CatalogError                the catalog or accountability database cannot be used
    │   └── BlocklistChangedError   an erasure changed the blocklist a batch was screened
    │                               against: screen it again (ingest does, never a user)
    ├── VectorIndexError            the vector index cannot be used
    │   └── IndexRebuildingError    the index is being rebuilt (reindex): try again
    ├── PdfUnavailableError         no PDF can be made here (chromium missing or failing)
    └── AccessError                 authentication or authorisation failed (server side)
        ├── AuthenticationError     who you are is unknown (bad login, token)
        │   └── PasswordChangeRequiredError  a one-time password: choose your own first
        └── PermissionDeniedError   who you are may not do this
            └── TrainingRequiredError  no current pass of the training and its quiz

The server adds its own under these (``server/errors.py``: ``ServerError`` and its kinds with
their own status, ``CsrfError`` under PermissionDeniedError). The CLI maps every
FaceSearchError to one line on stderr and exit code 2; the HTTP layer maps them to one JSON
error shape, by the most specific class (``server.errors.classify``). A traceback in front of a
user is a bug.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class FaceSearchError(Exception):
    """Base class of every error facesearch raises on purpose. ``code`` names the kind of
    error to clients; a subclass declares its own in its header (``code="..."``) or keeps its
    parent's."""

    code = "error"

    def __init_subclass__(cls, code: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.code = code or cls.code

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its class, message and attributes (``.path``, ``.missing`` ...), not by
        calling its constructor again: an error raised in another process (the server's
        analysis processes) arrives whole."""
        return (_restore, (type(self), self.args, dict(self.__dict__)))


class ConfigError(FaceSearchError, code="config_error"): ...


class InputError(FaceSearchError, code="bad_input"): ...


class ImageError(InputError, code="bad_image"):
    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = str(path) if path is not None else None
        super().__init__(f"{self.path}: {message}" if self.path else message)


class ImageTooLargeError(ImageError, code="image_too_large"): ...


class CorruptImageError(ImageError, code="corrupt_image"): ...


class NoFaceError(InputError, code="no_face"):
    def __init__(self, path: str | Path | None = None) -> None:
        self.path = str(path) if path is not None else None
        super().__init__(f"{self.path}: no face found" if self.path else "no face found")


class PoorProbeError(InputError, code="poor_probe"): ...


class ErasedError(InputError, code="erased"):
    """A verdict on a candidate face that has been erased (HTTP 409)."""


class CaseRequiredError(InputError):
    """A search, verification or export without the case number or stated purpose that a
    home with user accounts requires; ``missing``: "case", "purpose" or both. Each front end
    names its own fields for them (the CLI: --case and --purpose)."""

    def __init__(self, message: str, missing: tuple[str, ...]) -> None:
        self.missing = missing
        super().__init__(message)


class ModelError(FaceSearchError, code="model_error"): ...


class ModelFileError(ModelError, code="model_file_error"): ...


class CatalogError(FaceSearchError, code="catalog_error"): ...


class BlocklistChangedError(CatalogError, code="blocklist_changed"):
    """An erasure added a blocklist entry since an ingest screened the batch it is writing:
    the ingest screens the batch again and retries (``Catalog.add_images``)."""


class NotFoundError(FaceSearchError, code="not_found"):
    """What was asked for does not exist (HTTP 404), whichever store was asked."""


class VectorIndexError(FaceSearchError, code="index_error"): ...


class IndexRebuildingError(VectorIndexError, code="index_rebuilding"):
    """The vectors are being rebuilt (``reindex`` dropped the Milvus collection and makes it
    anew): the same request a little later succeeds (HTTP 503)."""


class PdfUnavailableError(FaceSearchError, code="pdf_unavailable"):
    """No PDF report can be made here (chromium missing or failing); HTML reports still can."""


class AccessError(FaceSearchError, code="access_denied"): ...


class AuthenticationError(AccessError, code="unauthenticated"): ...


class PasswordChangeRequiredError(AuthenticationError, code="password_change_required"):
    """The password was right, but someone else set it (an admin): it only lets its user
    choose their own (the login page asks; ``app.sessions.login_with_new_password``)."""


class PermissionDeniedError(AccessError, code="forbidden"): ...


class TrainingRequiredError(PermissionDeniedError, code="training_required"):
    """A search or verification by a user who must pass the training first (HTTP 403)."""


def _restore(
    cls: type[FaceSearchError], args: tuple[Any, ...], state: dict[str, Any]
) -> FaceSearchError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error
