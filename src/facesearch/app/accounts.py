"""User accounts and API tokens, checked: what the ``users`` commands and the admin routes call.

Managing accounts needs ``Permission.MANAGE_USERS`` (the local CLI actor always may); an actor
may set their own password and issue and revoke their own tokens. The store checks the same
again inside its transaction and writes every change to the audit trail (``by=actor``).

    for account in list_accounts(store, actor):
        print(account.user.name, account.live_tokens)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from facesearch.accountability import (
    AccountabilityStore,
    AccountPolicy,
    Actor,
    LoginLock,
    Permission,
    Role,
    TokenInfo,
    User,
)
from facesearch.accountability.users import sees_every_account
from facesearch.app.checks import allow
from facesearch.errors import PermissionDeniedError

__all__ = [
    "Account",
    "IssuedToken",
    "add_user",
    "disable_user",
    "enable_user",
    "get_account",
    "has_users",
    "issue_token",
    "list_accounts",
    "my_tokens",
    "password_policy",
    "revoke_tokens",
    "set_password",
    "tokens_of",
]


@dataclass(frozen=True)
class Account:
    """A user as the admins see it: the account, its API tokens (oldest first) and the login
    locks in force on its name."""

    user: User
    tokens: tuple[TokenInfo, ...]
    lockouts: tuple[LoginLock, ...]

    @property
    def live_tokens(self) -> int:
        return sum(1 for t in self.tokens if t.live)


@dataclass(frozen=True)
class IssuedToken:
    """A token just issued: ``token`` is shown this once and never stored."""

    name: str
    token: str
    info: TokenInfo


def _manage(actor: Actor, name: str | None = None) -> None:
    """MANAGE_USERS, unless ``name`` is the actor's own account."""
    if name is None or not _own(actor, name):
        allow(actor, Permission.MANAGE_USERS)


def _own(actor: Actor, name: str) -> bool:
    return name.casefold() == actor.name.casefold()


# The platform operator adds organisations' admins (and other operators), and may give them a
# new password; the accounts of an organisation's other roles are its admins' to manage.
OPERATOR_MANAGES = frozenset({Role.ADMIN, Role.OPERATOR})


def _operator_may(actor: Actor, role: Role | str, what: str) -> None:
    """PermissionDeniedError if the operator would ``what`` an account of ``role``."""
    try:
        chosen = Role(role)
    except ValueError:
        return  # not a role: the account store refuses it (422), not this check (a 500)
    if actor.role == Role.OPERATOR and not actor.is_local and chosen not in OPERATOR_MANAGES:
        raise PermissionDeniedError(
            f"the platform operator may not {what} {_a(chosen.value)}'s account: the "
            "operator manages organisations and their admins, whose admins manage the rest"
        )


def _a(word: str) -> str:
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def _account(store: AccountabilityStore, user: User, locks: list[LoginLock]) -> Account:
    mine = tuple(lock for lock in locks if lock.name.casefold() == user.name.casefold())
    return Account(user, tuple(store.accounts.tokens(user.name)), mine)


def has_users(store: AccountabilityStore) -> bool:
    """Whether the home has any user account (then every use needs a case and purpose)."""
    return store.accounts.has_users()


def password_policy(store: AccountabilityStore) -> AccountPolicy:
    """The home's account rules (password length and strength, lockouts, lifetimes)."""
    return store.accounts.policy


def list_accounts(store: AccountabilityStore, actor: Actor) -> list[Account]:
    """Every account by name, with its tokens and lockouts."""
    _manage(actor)
    locks = store.accounts.lockouts()
    org = None if sees_every_account(actor) else actor.org
    return [_account(store, u, locks) for u in store.accounts.users(org)]


def get_account(store: AccountabilityStore, actor: Actor, name: str) -> Account:
    """One account, with its tokens and lockouts; NotFoundError if there is none."""
    _manage(actor)
    user = store.accounts.get_user(name, seen_by=actor)
    return _account(store, user, store.accounts.lockouts())


def add_user(
    store: AccountabilityStore,
    actor: Actor,
    name: str,
    role: Role | str,
    password: str,
    *,
    org: str | Literal["own"] | None = "own",
) -> User:
    """A new account of organisation ``org`` ("own": the actor's; None: an operator's, of
    none)."""
    _manage(actor)
    _operator_may(actor, role, "add")
    chosen = actor.org if org == "own" else org
    return store.accounts.add_user(name, role, password, by=actor, org=chosen)


def disable_user(store: AccountabilityStore, actor: Actor, name: str) -> User:
    """Disable an account: its sessions end and its tokens are revoked for good."""
    _manage(actor)
    return store.accounts.disable_user(name, by=actor)


def enable_user(store: AccountabilityStore, actor: Actor, name: str) -> User:
    _manage(actor)
    return store.accounts.enable_user(name, by=actor)


def set_password(store: AccountabilityStore, actor: Actor, name: str, password: str) -> bool:
    """Set a password (one's own, or anyone's with MANAGE_USERS: the operator an admin's or
    an operator's only); ends the user's sessions and revokes their API tokens. Whether it is
    a one-time password (``Accounts.set_password``)."""
    _manage(actor, name)
    if not _own(actor, name):
        _operator_may(actor, store.accounts.get_user(name, seen_by=actor).role, "set a password on")
    return store.accounts.set_password(name, password, by=actor)


def may_set_password(actor: Actor, user: User) -> bool:
    """Whether ``actor`` may set ``user``'s password by ``set_password`` (with MANAGE_USERS,
    or their own), so that a page offers the form only where it would be accepted."""
    try:
        _manage(actor, user.name)
        if not _own(actor, user.name):
            _operator_may(actor, user.role, "set a password on")
    except PermissionDeniedError:
        return False
    return True


def issue_token(
    store: AccountabilityStore, actor: Actor, name: str, *, presented: str | None = None
) -> IssuedToken:
    """A new API token for ``name``: one's own, or anyone's from the host's CLI. An admin or
    the operator may list and revoke anyone's tokens but not issue one for someone else: they
    would see it, and could then act as that person (an admin search as an investigator,
    with the trail crediting the investigator). ``presented``: the session id or token the
    request came with, checked to be still live as the token is issued."""
    _manage(actor, name)
    if not _own(actor, name) and not actor.is_local:
        store.accounts.get_user(name, seen_by=actor)  # 404 first for an account not seen
        raise PermissionDeniedError(
            f"an API token is issued by its user (the Me page, POST /api/v1/me/tokens) or on "
            f"the host (facesearch users token {name}); one issued for {name} would let you "
            "act as them"
        )
    token = store.accounts.issue_token(name, by=actor, presented=presented)
    return IssuedToken(name, token, store.accounts.tokens(name)[-1])


def revoke_tokens(store: AccountabilityStore, actor: Actor, name: str) -> int:
    """Revoke every live token of ``name`` (oneself, or anyone with MANAGE_USERS); the count."""
    _manage(actor, name)
    return store.accounts.revoke_tokens(name, by=actor)


def tokens_of(store: AccountabilityStore, actor: Actor, name: str) -> list[TokenInfo]:
    """The tokens of ``name``, oldest first (one's own, or anyone's with MANAGE_USERS)."""
    _manage(actor, name)
    store.accounts.get_user(name, seen_by=actor)
    return store.accounts.tokens(name)


def my_tokens(store: AccountabilityStore, actor: Actor) -> list[TokenInfo]:
    """The actor's own tokens, oldest first."""
    return store.accounts.tokens(actor.name)
