"""Staff users: argon2 password hashes, roles, API tokens (stored hashed), and who is asking."""

import copy
import hashlib
import logging
import secrets
from collections.abc import Callable
from datetime import timedelta
from functools import wraps

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, abort, after_this_request, g, request
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from schedule_service import audit
from schedule_service.clock import now
from schedule_service.db import SQLITE_BUSY_TIMEOUT_MS, db
from schedule_service.models import ApiToken, User
from schedule_service.models.user import ROLES

log = logging.getLogger(__name__)
hasher = PasswordHasher()
login_manager = LoginManager()
csrf = CSRFProtect()

TOKEN_PREFIX = "sst_"
#: A token's last use is written at most this often: a busy client must not turn every read into a write.
LAST_USED_EVERY = timedelta(minutes=1)
#: How long writing a last use waits for a busy SQLite database before giving up.
STAMP_WAIT_MS = 200


def hash_password(password: str) -> str:
    return hasher.hash(password)


def check_password(user: User, password: str) -> bool:
    try:
        return hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_user(session: Session, email: str, password: str, role: str, actor: str = "system") -> User:
    """Add a staff user; raise ``ValueError`` for a bad role, a taken email or a weak password."""
    email = email.strip().lower()
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if "@" not in email:
        raise ValueError(f"{email!r} is not an email address")
    _check_password_strength(password)
    if session.scalar(select(User).where(User.email == email)) is not None:
        raise ValueError(f"a user {email} already exists")
    user = User(email=email, password_hash=hash_password(password), role=role)
    session.add(user)
    session.flush()
    audit.record(session, actor, "create", "user", user.id, {"email": [None, email], "role": [None, role]})
    return user


def update_user(session: Session, user: User, actor: str, **values) -> User:
    """Change a user's ``role``, ``is_active``, ``language`` or ``password``; raise ``ValueError`` when refused.

    The last active admin can neither be demoted nor deactivated: someone must be able to
    manage users and targets. A new password ends the user's sessions and revokes their API
    tokens: whoever knew the old one may have made either.
    """
    if "role" in values and values["role"] not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if values.get("password") is not None:
        _check_password_strength(values["password"])
    loses_admin = (
        user.role == "admin"
        and user.is_active
        and (values.get("role", "admin") != "admin" or values.get("is_active", True) is False)
    )
    if loses_admin:
        others = session.scalar(
            select(User.id).where(User.role == "admin", User.is_active.is_(True), User.id != user.id).limit(1)
        )
        if others is None:
            raise ValueError(f"{user.email} is the last active admin; make another admin first")
    changes = {}
    for field in ("role", "is_active", "language"):
        if field in values and values[field] != getattr(user, field):
            changes[field] = [getattr(user, field), values[field]]
            setattr(user, field, values[field])
    if values.get("password") is not None:
        user.password_hash = hash_password(values["password"])
        changes["password"] = ["(hidden)", "(changed)"]  # never the hash, not even in the trail
        user.session_generation += 1
    session.flush()
    if changes:
        audit.record(session, actor, "update", "user", user.id, changes)
    if "password" in changes:
        for token in live_tokens(session, user):
            revoke_token(session, token, actor)
    return user


def live_tokens(session: Session, user: User) -> list[ApiToken]:
    return list(
        session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).order_by(ApiToken.id)
        )
    )


def end_sessions(session: Session, user: User, actor: str) -> None:
    """End every login session of ``user`` ("sign out everywhere"); API tokens are left alone."""
    user.session_generation += 1
    session.flush()
    audit.record(session, actor, "sign-out", "user", user.id, {})


def _check_password_strength(password: str) -> None:
    if len(password) < 8:
        raise ValueError("the password must have at least 8 characters")


def create_token(session: Session, user: User, name: str = "api", actor: str = "system") -> tuple[ApiToken, str]:
    """Return a new token row and the token itself, which is never stored."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user=user, name=name, token_hash=_digest(raw), prefix=raw[:10])
    session.add(token)
    session.flush()
    audit.record(
        session,
        actor,
        "create",
        "token",
        token.id,
        {"user": [None, user.email], "name": [None, name], "prefix": [None, token.prefix]},
    )
    return token, raw


def revoke_token(session: Session, token: ApiToken, actor: str = "system") -> None:
    """Make a token useless from now on; revoking a revoked token changes nothing."""
    if token.revoked_at is not None:
        return
    token.revoked_at = now()
    session.flush()
    audit.record(session, actor, "revoke", "token", token.id, {"revoked_at": [None, token.revoked_at]})


def user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def bearer_user() -> User | None:
    """The user whose live API token is in the Authorization header, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        return None
    token = db.session.scalar(
        select(ApiToken).where(ApiToken.token_hash == _digest(raw.strip()), ApiToken.revoked_at.is_(None))
    )
    if token is None or not token.user.is_active:
        return None
    if token.last_used_at is None or now() - token.last_used_at >= LAST_USED_EVERY:
        _stamp_when_sent(token.id)
    return token.user


def _stamp_when_sent(token_id: int) -> None:
    """Write the token's last use once the answer has gone out, on a connection of its own.

    Not in the request's transaction: a read would become a write (and on SQLite could not
    upgrade its snapshot while another writer commits). Best effort: if the database is busy past
    a short wait, the next use a minute on writes it.
    """
    engine, used_at = db.engine, now()
    stale = or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= used_at - LAST_USED_EVERY)
    stamp = update(ApiToken).where(ApiToken.id == token_id, stale).values(last_used_at=used_at)

    def write() -> None:
        try:
            with engine.connect() as conn:
                # A SQLite writer waits in BEGIN IMMEDIATE: shorten the wait before the transaction.
                sqlite = conn.connection.driver_connection if conn.dialect.name == "sqlite" else None
                if sqlite is not None:
                    sqlite.execute(f"PRAGMA busy_timeout={STAMP_WAIT_MS}")
                try:
                    with conn.begin():
                        conn.execute(stamp)
                finally:
                    if sqlite is not None:
                        sqlite.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        except OperationalError as e:
            log.info("token %s: last use not written (%s)", token_id, e.orig)

    @after_this_request
    def _when_sent(response):
        response.call_on_close(write)
        return response


def current_staff() -> User | None:
    """The staff user behind this request: a bearer token, else the login session.

    A request that sends a token is judged by its token alone: a revoked or mistyped one is
    refused even from a browser that also holds a staff session.
    """
    if "staff" not in g:
        user = bearer_user()
        g.via_token = user is not None
        if user is None and "Authorization" not in request.headers and current_user.is_authenticated:
            user = current_user._get_current_object()
        g.staff = user
    return g.staff


def actor() -> str:
    """Who to name in the audit trail for this request."""
    user = current_staff()
    return user.email if user is not None else "system"


def require(role: str) -> Callable:
    """Let the view run only for staff with at least ``role``: 401 without, 403 below it.

    Session-authenticated writes must carry a CSRF token; bearer-token calls need none.
    """

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            user = current_staff()
            if user is None:
                raise _unauthorized()
            if not user.has_role(role):
                abort(403)
            if not g.via_token and request.method not in ("GET", "HEAD", "OPTIONS"):
                csrf.protect()
            return view(*args, **kwargs)

        # Tell the OpenAPI document (flask-smorest's _apidoc) that the operation needs a token
        # and may answer 401 and 403 (problem responses registered by the Api).
        apidoc = copy.deepcopy(getattr(view, "_apidoc", {}))
        apidoc["manual_doc"] = {**apidoc.get("manual_doc", {}), "security": [{"bearer": []}]}
        responses = apidoc.setdefault("response", {}).setdefault("responses", {})
        responses.setdefault(401, []).append("UNAUTHORIZED")
        responses.setdefault(403, []).append("FORBIDDEN")
        wrapper._apidoc = apidoc
        #: Read by the security matrix test, which checks every write route has a gate.
        wrapper.required_role = role
        return wrapper

    return decorator


HOW_TO_SEND_A_TOKEN = (
    "Send an API token as 'Authorization: Bearer TOKEN' (make one on the staff page /staff/tokens, "
    "or with 'flask --app wsgi tokens create EMAIL'), or log in at /staff/login."
)


def _unauthorized():
    """401 that says how to authenticate; RFC 6750's ``invalid_token`` when the token sent is not one."""
    from schedule_service.web.errors import problem

    if "Authorization" in request.headers:
        error = problem(
            401, "The token sent is not valid: it is revoked, mistyped, or its user is inactive. " + HOW_TO_SEND_A_TOKEN
        )
        error.headers = {"WWW-Authenticate": 'Bearer realm="schedule", error="invalid_token"'}
        return error
    return problem(401, "This needs a staff user. " + HOW_TO_SEND_A_TOKEN)


@login_manager.user_loader
def _load_user(session_id: str) -> User | None:
    """The active user a session names, if the session is of the user's current generation.

    The session holds "id:generation" (``User.get_id``); logout, a new password and "sign out
    everywhere" move the generation, so a session cookie copied before then names nobody.
    """
    user_id, _, generation = session_id.partition(":")
    if not (user_id.isdigit() and generation.isdigit()) or int(user_id) > 2**31 - 1:
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.is_active or user.session_generation != int(generation):
        return None
    return user


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "staff.login"
    csrf.init_app(app)
