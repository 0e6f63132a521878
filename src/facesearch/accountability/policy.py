"""``AccountPolicy``: the rules for accounts (password strength, login lockouts, session and
token lifetimes) in one frozen record; ``store.account_policy(settings)`` builds one from the
settings, whose defaults are these defaults (``settings.AccountSettings``, one definition)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from facesearch.errors import InputError
from facesearch.settings import AccountSettings

__all__ = ["AccountPolicy"]

_DEFAULTS = AccountSettings()


@dataclass(frozen=True)
class AccountPolicy:
    """The rules for accounts; ``store.account_policy(settings)`` builds one from the settings."""

    min_password_length: int = _DEFAULTS.min_password_length
    min_password_score: int = _DEFAULTS.min_password_score  # zxcvbn's 0..4
    max_failures: int = _DEFAULTS.login_max_failures  # failed logins for a name from an address
    failure_window: timedelta = timedelta(minutes=15)  # ... within this long ...
    lockout: timedelta = timedelta(minutes=1)  # ... lock it (for that address) this long, ...
    max_lockout: timedelta = timedelta(hours=1)  # ... doubled each time, up to this long
    name_max_failures: int = 20  # failed logins for one name from any addresses ...
    name_failure_window: timedelta = timedelta(hours=1)  # ... within this long ...
    name_lockout: timedelta = timedelta(minutes=1)  # ... lock it for every address, ...
    max_name_lockout: timedelta = timedelta(minutes=15)  # ... doubled each time, up to this
    # a session unused this long ends; a session ends this long after login
    session_idle: timedelta = timedelta(minutes=_DEFAULTS.session_idle_minutes)
    session_lifetime: timedelta = timedelta(hours=_DEFAULTS.session_lifetime_hours)
    # None: tokens never expire
    token_lifetime: timedelta | None = timedelta(days=_DEFAULTS.token_lifetime_days)

    def __post_init__(self) -> None:
        if self.min_password_length < 8 or self.max_failures < 1 or self.name_max_failures < 1:
            raise InputError(
                "min_password_length must be >= 8, max_failures and name_max_failures >= 1"
            )
        if not 0 <= self.min_password_score <= 4:
            raise InputError("min_password_score must be between 0 and 4")
        for name in (
            "failure_window",
            "lockout",
            "name_failure_window",
            "name_lockout",
            "session_idle",
            "session_lifetime",
        ):
            if getattr(self, name) <= timedelta(0):
                raise InputError(f"{name} must be positive")
        if self.max_lockout < self.lockout or self.max_name_lockout < self.name_lockout:
            raise InputError(
                "max_lockout must be at least lockout, max_name_lockout at least name_lockout"
            )
        if self.token_lifetime is not None and self.token_lifetime <= timedelta(0):
            raise InputError("token_lifetime must be positive (or None: never expire)")
