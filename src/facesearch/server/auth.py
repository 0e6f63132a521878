"""Who is asking, and may they: sessions, API tokens, CSRF, roles, rate limits.

Two ways in, both checked by ``AuthMiddleware`` before any route runs:

- **browsers**: ``POST /login`` checks the password (argon2id, throttled; through
  ``app.sessions``, as every session and token check here) and sets the session cookie
  ``fs_session`` (HttpOnly, SameSite=Strict, Secure over HTTPS). Every unsafe request
  (POST, PUT, PATCH, DELETE) made with the cookie must also carry the session's CSRF token,
  as the form field ``csrf_token`` or the header ``X-CSRF-Token``, and, when the browser
  sends one, an Origin equal to the server's. The login form itself is
  protected by a double-submit token (cookie ``fs_login`` + field).
- **API clients**: ``Authorization: Bearer fs_...`` (``facesearch users token NAME``). A
  request with this header is judged by the token alone; no CSRF token is needed.

Nothing but ``/health``, ``/login`` and ``/static/`` answers without one of these: everything
else gets 401 (a browser asking for a page is sent to the login page). What a role may do is
read from ``accountability.PERMISSIONS`` through ``require`` (403 otherwise); routes declare
the permission they need with one of the dependencies of ``deps.py`` (``Searcher``, ``Admin``
...), each built here by ``needs``.

**Client addresses** (login throttling, lockouts, the audit trail) are the socket's peer.
``X-Forwarded-For`` is believed only when that peer is one of ``trusted_proxies``; then the
client is the last hop that is not a trusted proxy. ``AuthMiddleware`` works this out once per
request, whatever the ASGI server in front did: when the server already replaced the peer with
an address from ``X-Forwarded-For`` that we were not told to trust (uvicorn does so for loopback
by default, with port 0), the address is unknowable and the request counts as
``UNTRUSTED_FORWARD``. With no trusted proxy, a real peer (``facesearch serve`` turns uvicorn's
proxy headers off) is the client whatever ``X-Forwarded-For`` says.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

import anyio
from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from facesearch.accountability import Permission, Role, User, can, require
from facesearch.app import sessions
from facesearch.app.handles import Store
from facesearch.app.limits import Limiter
from facesearch.errors import AuthenticationError, PermissionDeniedError
from facesearch.server.asgi import HttpMiddleware
from facesearch.server.errors import CsrfError, RateLimitedError
from facesearch.server.limits import retry_seconds, send_error
from facesearch.settings import trusted_networks

SESSION_COOKIE = "fs_session"
LOGIN_COOKIE = "fs_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
LOGIN_PATHS = frozenset({"/login", "/login/new-password"})  # the password forms, rate limited
PUBLIC_PATHS = frozenset({"/health"}) | LOGIN_PATHS
PUBLIC_PREFIXES = ("/static/",)
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CLIENT_KEY = "client_address"  # where AuthMiddleware leaves the client address in scope["state"]
UNTRUSTED_FORWARD = "unknown (X-Forwarded-For from an untrusted proxy)"
MAX_FORWARDED_HOPS = 32

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Principal:
    """An authenticated user, and how they came in."""

    user: User
    via: Literal["session", "token"]
    csrf: str | None = None  # the session's CSRF token (sessions only)
    session_id: str | None = None
    token: str | None = None  # the API token (tokens only)

    @property
    def presented(self) -> str | None:
        """The secret the request came with: its session id or its API token."""
        return self.session_id if self.via == "session" else self.token

    @property
    def name(self) -> str:
        return self.user.name

    def can(self, permission: Permission) -> bool:
        return can(self.user.role, permission)

    @property
    def home(self) -> str:
        """The page a user lands on after login."""
        if self.can(Permission.SEARCH):
            return "/search"
        if self.can(Permission.SUPERVISE):
            return "/oversight"
        if self.can(Permission.MANAGE_ORGS):
            return "/orgs"
        if self.can(Permission.READ_GALLERY):
            return "/gallery"
        return "/audit"


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class TrustedProxies:
    """The reverse proxies whose ``X-Forwarded-For`` is believed (``trusted_proxies``)."""

    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, text: str) -> TrustedProxies:
        """From the setting (checked when the settings were built)."""
        return cls(trusted_networks(text))

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, host: str) -> bool:
        address = _ip(host)
        return address is not None and any(address in net for net in self.networks)

    def as_list(self) -> list[str]:
        return [str(net) for net in self.networks]


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _forwarded_hops(scope: Scope) -> list[str]:
    """The addresses of X-Forwarded-For, first (the original client) to last, ports dropped."""
    hops: list[str] = []
    for name, value in scope.get("headers") or ():
        if name.lower() != b"x-forwarded-for":
            continue
        for part in value.decode("latin-1").split(","):
            hop = part.strip()
            if hop.startswith("[") and "]" in hop:  # [v6]:port
                hop = hop[1 : hop.index("]")]
            elif hop.count(":") == 1:  # v4:port
                hop = hop.split(":", 1)[0]
            if hop:
                hops.append(hop)
    return hops[-MAX_FORWARDED_HOPS:]


def resolve_client(scope: Scope, trusted: TrustedProxies) -> str:
    """The client's address: the peer, or what a trusted proxy says the client was."""
    client = scope.get("client")
    peer = str(client[0]) if client else ""
    hops = _forwarded_hops(scope)
    if not hops:
        return peer or "unknown"
    if peer and trusted.trusts(peer):
        for hop in reversed(hops):
            if not trusted.trusts(hop):
                return hop if _ip(hop) is not None else UNTRUSTED_FORWARD
        return hops[0]
    if client and client[1] == 0 and peer in hops and not trusted:
        # The ASGI server already put a forwarded address in place of the peer (uvicorn's
        # proxy headers give it port 0; a socket's peer never has it) although no proxy is
        # trusted here: the real peer is lost; count all such requests as one. A real peer
        # is kept whatever X-Forwarded-For says, even when it names the peer itself.
        return UNTRUSTED_FORWARD
    return peer or "unknown"


def client_address(scope: Scope) -> str:
    """The client address AuthMiddleware worked out (trusting no proxy if it did not run)."""
    known = scope.get("state", {}).get(CLIENT_KEY)
    if isinstance(known, str):
        return known
    return resolve_client(scope, TrustedProxies())


def resolve(store: Store, headers: dict[str, str], cookies: dict[str, str]) -> Principal | None:
    """The principal behind a request's credentials; None without any; 401 if they are bad."""
    auth = headers.get("authorization")
    if auth is not None:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("the Authorization header must be 'Bearer <API token>'")
        return Principal(sessions.token_user(store, token.strip()), "token", token=token.strip())
    session_id = cookies.get(SESSION_COOKIE)
    if session_id:
        live = sessions.session(store, session_id)
        return Principal(live.user, "session", live.csrf, live.id)
    return None


class AuthMiddleware(HttpMiddleware):
    """Authenticate every non-public request and apply the per-user rate limit."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        store: Store,
        limiter: Limiter,
        login_limiter: Limiter,
        trusted_proxies: TrustedProxies | None = None,
    ) -> None:
        super().__init__(app)
        self.store = store
        self.limiter = limiter
        self.login_limiter = login_limiter
        self.trusted = trusted_proxies or TrustedProxies()
        self._warned = False

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        state = scope.setdefault("state", {})
        state[CLIENT_KEY] = resolve_client(scope, self.trusted)
        if state[CLIENT_KEY] == UNTRUSTED_FORWARD and not self._warned:
            self._warned = True
            log.warning(
                "a request came with X-Forwarded-For that no trusted proxy vouches for, or the "
                "server in front already put it in place of the client address; such requests "
                "count as one client. Run uvicorn without proxy headers, or name the proxy in "
                "FACESEARCH_TRUSTED_PROXIES"
            )
        request = Request(scope, receive)
        if is_public(path):
            if path in LOGIN_PATHS and request.method == "POST":
                wait = self.login_limiter.take("login:" + client_address(scope))
                if wait:
                    await send_error(scope, receive, send, _rate_error(wait))
                    return
            await self._public(scope, receive, send, request)
            return
        try:
            principal = await anyio.to_thread.run_sync(
                resolve, self.store, dict(request.headers), dict(request.cookies)
            )
        except AuthenticationError as exc:
            await send_error(scope, receive, send, exc)
            return
        if principal is None:
            await send_error(scope, receive, send, AuthenticationError("log in first"))
            return
        wait = self.limiter.take("user:" + principal.name.casefold())
        if wait:
            await send_error(scope, receive, send, _rate_error(wait))
            return
        state["principal"] = principal
        await self.app(scope, receive, send)

    async def _public(self, scope: Scope, receive: Receive, send: Send, request: Request) -> None:
        """Public pages still learn who is logged in (the login page, error pages)."""
        if request.cookies.get(SESSION_COOKIE) and not request.headers.get("authorization"):
            try:
                principal = await anyio.to_thread.run_sync(
                    resolve, self.store, {}, dict(request.cookies)
                )
            except AuthenticationError:
                principal = None
            if principal is not None:
                scope["state"]["principal"] = principal
        await self.app(scope, receive, send)


def _rate_error(wait: float) -> RateLimitedError:
    seconds = retry_seconds(wait)
    return RateLimitedError(f"too many requests; try again in {seconds} s", retry_after=seconds)


def current(request: Request) -> Principal:
    principal = request.scope.get("state", {}).get("principal")
    if not isinstance(principal, Principal):
        raise AuthenticationError("log in first")
    return principal


def optional_principal(request: Request) -> Principal | None:
    principal = request.scope.get("state", {}).get("principal")
    return principal if isinstance(principal, Principal) else None


async def check_csrf(request: Request) -> None:
    """Unsafe requests made with the session cookie must carry its CSRF token."""
    if request.method not in UNSAFE:
        return
    principal = current(request)
    if principal.via != "session":
        return
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.url.netloc}"
    if origin not in (None, "null", own):  # "null": privacy settings hide it; the token decides
        raise CsrfError("cross-origin request refused")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and "form" in request.headers.get("content-type", ""):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not principal.csrf or not hmac.compare_digest(sent, principal.csrf):
        raise CsrfError("missing or wrong CSRF token: reload the page and try again")


def needs(permission: Permission) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency: the principal, after checking CSRF and that their role may ``permission``."""

    async def dependency(request: Request) -> Principal:
        principal = current(request)
        await check_csrf(request)
        require(principal.user, permission)
        return principal

    dependency.__name__ = f"needs_{permission.value}"
    return dependency


def needs_any(
    *permissions: Permission, doing: str | None = None
) -> Callable[[Request], Awaitable[Principal]]:
    """Like ``needs``, for a route that any one of ``permissions`` opens (the route itself
    then decides what the principal may see). ``doing``: what the refusal says the user may
    not do ("read searches"); without it, what the first permission does."""

    async def dependency(request: Request) -> Principal:
        principal = current(request)
        await check_csrf(request)
        if not any(principal.can(p) for p in permissions):
            if doing is None:
                require(principal.user, permissions[0])  # raises, naming the first
            user = principal.user
            raise PermissionDeniedError(f"{user.name} ({user.role.value}) may not {doing}")
        return principal

    dependency.__name__ = "needs_" + "_or_".join(p.value for p in permissions)
    return dependency


async def authenticated(request: Request) -> Principal:
    """A dependency: any logged-in user (CSRF checked for unsafe requests)."""
    principal = current(request)
    await check_csrf(request)
    return principal


def new_login_token() -> str:
    return secrets.token_urlsafe(24)


def check_login_token(request: Request, sent: str | None) -> None:
    cookie = request.cookies.get(LOGIN_COOKIE)
    if not cookie or not sent or not hmac.compare_digest(cookie, sent):
        raise CsrfError("the login form expired; reload the page and try again")


def safe_next(target: str | None, fallback: str) -> str:
    """A local path to go to after login (never another site)."""
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not target.startswith("/login")
        and all(32 < ord(ch) < 127 for ch in target)
    ):
        return target
    return fallback


ROLE_WORDS = {
    Role.ADMIN: "users, ingest, erasure, settings; may confirm candidates",
    Role.INVESTIGATOR: "search, verify, decide on candidates",
    Role.AUDITOR: "read the audit trail",
    Role.SUPERVISOR: "oversight: the dashboard, alerts, approvals; no search",
    Role.OPERATOR: "the platform: organisations, their quotas, policies and admins",
}
