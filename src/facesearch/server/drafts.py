"""Photos held between the two steps of an erasure "like this photo" in the Gallery pages:
the preview lists what will be erased, and the confirmation erases with the very photo and
false match rate that were previewed, without the browser sending the photo again.

In this server's memory only (never on disk) when the deployment is embedded; in PostgreSQL,
shared by every replica, when it is not (``sqlstore/drafts.py``, chosen by ``app.limits``).
For its owner only, for ``TTL_S`` seconds and
at most ``MOST`` at a time (the oldest goes first); a draft is taken once. A draft that is
missing, expired, taken or someone else's is a NotFoundError (the same for each).
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

from facesearch.app.limits import Draft, not_found

__all__ = ["Draft", "PhotoDrafts"]

TTL_S = 15 * 60.0
MOST = 32


@dataclass
class PhotoDrafts:
    ttl_s: float = TTL_S
    most: int = MOST
    _items: dict[str, Draft] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, owner: str, photo: bytes, max_fmr: float | None) -> str:
        """Hold ``photo`` for ``owner``; the token that takes it back."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._drop_expired()
            while len(self._items) >= self.most:
                del self._items[next(iter(self._items))]  # the oldest (dicts keep order)
            self._items[token] = Draft(owner, photo, max_fmr, time.monotonic() + self.ttl_s)
        return token

    def take(self, token: str, owner: str) -> Draft:
        """The draft ``token`` of ``owner``, removed; NotFoundError if there is none."""
        with self._lock:
            self._drop_expired()
            draft = self._items.get(token)
            if draft is None or draft.owner != owner:
                raise not_found(self.ttl_s)
            del self._items[token]
            return draft

    def _drop_expired(self) -> None:
        now = time.monotonic()
        for token in [t for t, d in self._items.items() if d.expires <= now]:
            del self._items[token]
