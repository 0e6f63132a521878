"""Passwords: argon2id hashes and the rules a new password must pass.

Passwords are hashed with argon2id (argon2-cffi's ``PasswordHasher``; its defaults are RFC
9106's low-memory profile, 64 MiB). A hash made with older parameters is upgraded at the next
successful login (``rehash``).

New passwords must be ``min_password_length`` long (``AccountPolicy``), not on the shipped list
of common passwords (``data/common-passwords.txt``) and reach ``min_password_score`` (0..4) on
zxcvbn's strength estimate.
"""

from __future__ import annotations

import secrets
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from facesearch.accountability.policy import AccountPolicy
from facesearch.errors import InputError

__all__ = ["MAX_PASSWORD_LENGTH", "Passwords"]

MAX_PASSWORD_LENGTH = 1024
STRENGTH_CHARS = 72  # zxcvbn looks at this many (its time grows with length; 4.5 refuses > 72)
COMMON_PASSWORDS = "data/common-passwords.txt"


class Passwords:
    """Hashing, checking and judging passwords under one policy."""

    def __init__(self, policy: AccountPolicy, hasher: PasswordHasher) -> None:
        self.policy = policy
        self._hasher = hasher
        self._dummy_hash: str | None = None
        self._common: frozenset[str] | None = None

    def hash_new(self, name: str, password: str) -> str:
        """The hash of a new password for user ``name``; InputError saying why if the
        password is too short, too long, the name, common or too easy to guess."""
        if not isinstance(password, str):
            raise InputError("a password is text")
        if len(password) < self.policy.min_password_length:
            raise InputError(
                f"a password needs at least {self.policy.min_password_length} characters"
            )
        if len(password) > MAX_PASSWORD_LENGTH:
            raise InputError(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
        if password.casefold() == name.casefold():
            raise InputError("a password must not be the user name")
        common = self._common_passwords()
        if password.casefold() in common:
            raise InputError(
                f"this password is one of the {len(common):,} most common passwords "
                "(leaked-password lists); choose another"
            )
        result = zxcvbn(password[:STRENGTH_CHARS], user_inputs=[name, "facesearch"])
        score, needed = int(result["score"]), self.policy.min_password_score
        if score < needed:
            feedback = result.get("feedback") or {}
            hints = [feedback.get("warning") or "", *(feedback.get("suggestions") or [])]
            why = " ".join(h.strip() for h in hints if h and h.strip())
            raise InputError(
                f"this password is too easy to guess (strength {score} of 4; at least {needed} "
                f"needed): {why or 'use a longer passphrase of uncommon words'}"
            )
        return str(self._hasher.hash(password))

    def verify(self, stored: str, password: str) -> bool:
        """Whether ``password`` matches the hash ``stored`` (False for anything unusable)."""
        if not isinstance(password, str) or len(password) > MAX_PASSWORD_LENGTH:
            return False
        try:
            return bool(self._hasher.verify(stored, password))
        except (VerificationError, InvalidHashError):
            return False

    def rehash(self, stored: str, password: str) -> str | None:
        """A new hash of a password just verified, if ``stored`` was made with other
        parameters than the hasher's now; None if it is current."""
        try:
            current = not self._hasher.check_needs_rehash(stored)
        except (InvalidHashError, ValueError):
            current = False
        return None if current else str(self._hasher.hash(password))

    def dummy(self) -> str:
        """A hash to check unknown names against, so they take as long as known ones."""
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        return self._dummy_hash

    def _common_passwords(self) -> frozenset[str]:
        """The shipped list of common passwords, casefolded (read once)."""
        if self._common is None:
            text = (resources.files("facesearch") / COMMON_PASSWORDS).read_text(encoding="utf-8")
            self._common = frozenset(
                line.strip().casefold()
                for line in text.splitlines()
                if line.strip() and not line.startswith("#")
            )
        return self._common
