"""Logging in and out, the home page, API tokens, and (admins) staff users."""

from babel import Locale
from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext, refresh
from flask_login import current_user, login_user, logout_user
from sqlalchemy import func, select
from wtforms import SelectChoice, SelectField

from schedule_service import auth, i18n
from schedule_service.clock import now
from schedule_service.db import db
from schedule_service.models import ApiToken, Channel, Post, User
from schedule_service.models.promo import PostStatus
from schedule_service.web.api.tokens import visible_tokens
from schedule_service.web.errors import render_error
from schedule_service.web.security import authenticate, limit_logins, login_failed, safe_next, staff_page
from schedule_service.web.staff import bp
from schedule_service.web.staff.checked_form import FlaskForm
from schedule_service.web.staff.form_data import user_data
from schedule_service.web.staff.forms import LoginForm, TokenForm, UserChangeForm, UserForm, changed_values


@bp.route("/login", methods=["GET", "POST"])
@limit_logins
def login():
    """The login form; only failed attempts count against the rate limit."""
    target = safe_next(request.args.get("next"), url_for("staff.home"))
    if current_user.is_authenticated and request.method == "GET":
        return redirect(target)
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is not None:
            # A fresh session at the privilege change: nothing from before the login carries over.
            session.clear()
            login_user(user)
            session.permanent = True
            return redirect(target)
        login_failed()
        form.password.errors = [_("Wrong email or password.")]
        status = 401
    elif request.method == "POST":
        status = 422
    return render_template("staff/login.html", form=form), status


@bp.errorhandler(429)
def too_many_attempts(error):
    """A rate-limited login: the form again, saying why and for how long."""
    if request.endpoint != "staff.login":
        return render_error(error)
    form = LoginForm()
    return render_template("staff/login.html", form=form, limited=error.description), 429


@bp.post("/logout")
def logout():
    """Log out (a POST with the CSRF token, so no other site can log staff out).

    The user's session generation moves, so a copy of the session cookie taken before (from
    this browser or another) no longer logs anyone in.
    """
    if current_user.is_authenticated:
        user = current_user._get_current_object()
        user.session_generation += 1
        db.session.commit()
    logout_user()
    session.clear()
    flash(_("You are logged out."), "info")
    return redirect(url_for("staff.login"))


@bp.get("/")
@staff_page()
def home():
    """Every channel, and the posts that need a person."""
    channels = db.session.scalars(select(Channel).order_by(Channel.slug)).all()
    waiting = dict(
        db.session.execute(
            select(Post.status, func.count(Post.id))
            .where(Post.status.in_(PostStatus.NEEDS_PERSON))
            .group_by(Post.status)
        ).all()
    )
    return render_template("staff/home.html", channels=channels, waiting=waiting, at=now())


# API tokens


@bp.route("/tokens", methods=["GET", "POST"])
@staff_page()
def tokens():
    """Your API tokens (an admin sees everyone's); make one, shown once."""
    form = TokenForm()
    new_token = None
    status = 200
    if form.validate_on_submit():
        owner = current_user._get_current_object()  # the user, not the per-request proxy, goes in the row
        token, new_token = auth.create_token(db.session, owner, form.name.data.strip(), owner.email)
        db.session.commit()
        status = 201
    elif request.method == "POST":
        status = 422
    rows = db.session.scalars(visible_tokens(current_user).order_by(ApiToken.id.desc())).all()
    return render_template("staff/tokens.html", form=form, tokens=rows, new_token=new_token), status


@bp.post("/tokens/<int:token_id>/revoke")
@staff_page()
def revoke_token(token_id: int):
    """Revoke one of your tokens (an admin: anyone's)."""
    token = db.session.scalar(visible_tokens(current_user).where(ApiToken.id == token_id))
    if token is None:
        abort(404)
    auth.revoke_token(db.session, token, current_user.email)
    db.session.commit()
    flash(_("Token %(name)s (%(prefix)s…) is revoked; it no longer works.", name=token.name, prefix=token.prefix), "ok")
    return redirect(url_for("staff.tokens"))


# Your own account: the staff pages' language


class AccountForm(FlaskForm):
    language = SelectField(_l("Language of the staff pages"), default="")


@bp.route("/account", methods=["GET", "POST"])
@staff_page()
def account():
    """Your own settings: the language the staff pages speak to you (``?lang=`` still changes one page)."""
    user = current_user._get_current_object()
    form = AccountForm() if request.method == "POST" else AccountForm(formdata=None, language=user.language or "")
    form.language.choices = [
        SelectChoice("", _("as the browser asks")),
        *(SelectChoice(code, Locale.parse(code).get_display_name(code).capitalize()) for code in i18n.languages()),
    ]
    if form.validate_on_submit():
        auth.update_user(db.session, user, current_user.email, language=form.language.data or None)
        db.session.commit()
        refresh()  # the message reads in the language just chosen
        flash(_("Saved your settings."), "ok")
        return redirect(url_for("staff.account"))
    status = 422 if request.method == "POST" else 200
    return render_template("staff/account.html", form=form, user=user), status


# Users (admins)


@bp.route("/users", methods=["GET", "POST"])
@staff_page("admin")
def users():
    """Every staff user; add one."""
    form = UserForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = auth.create_user(db.session, form.email.data, form.password.data, form.role.data, current_user.email)
        except ValueError as e:
            db.session.rollback()
            form.email.errors = [*form.email.errors, str(e)]
            status = 422
        else:
            db.session.commit()
            flash(_("Added %(role)s %(email)s.", role=_(user.role), email=user.email), "ok")
            return redirect(url_for("staff.users"))
    elif request.method == "POST":
        status = 422
    return _users_page(form, status=status)


@bp.post("/users/<int:user_id>")
@staff_page("admin")
def change_user(user_id: int):
    """Change a user's role, activity or password."""
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    form = UserChangeForm(prefix=f"u{user_id}")
    if form.validate_on_submit():
        tokens = auth.live_tokens(db.session, user) if form.password.data else []
        shown = UserChangeForm(formdata=None, prefix=f"u{user_id}", data=user_data(user))
        changes = changed_values(
            {"role": shown.role.data, "is_active": shown.active.data},
            {"role": form.role.data, "is_active": form.active.data},
        )
        if form.password.data:
            changes["password"] = form.password.data
        try:
            auth.update_user(db.session, user, current_user.email, **changes)
        except ValueError as e:
            db.session.rollback()
            form.role.errors = [*form.role.errors, str(e)]
        else:
            db.session.commit()
            if form.password.data:
                if user.id == current_user.id:
                    login_user(user)  # this session carries on under the new generation
                flash(
                    ngettext(
                        "Saved %(email)s: the new password ends every session of theirs made with the old one, "
                        "and their %(num)d API token is revoked.",
                        "Saved %(email)s: the new password ends every session of theirs made with the old one, "
                        "and their %(num)d API tokens are revoked.",
                        len(tokens),
                        email=user.email,
                    ),
                    "ok",
                )
            else:
                flash(
                    _("Saved %(email)s.", email=user.email) if changes else _("Nothing changed."),
                    "ok" if changes else "info",
                )
            return redirect(url_for("staff.users"))
    return _users_page(UserForm(formdata=None), changing=(user_id, form), status=422)


@bp.post("/users/<int:user_id>/sign-out")
@staff_page("admin")
def sign_out_everywhere(user_id: int):
    """End every login session of a user, wherever it is (API tokens are left alone)."""
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    auth.end_sessions(db.session, user, current_user.email)
    db.session.commit()
    if user.id == current_user.id:
        return redirect(url_for("staff.login"))
    flash(_("Every session of %(email)s has ended; they must log in again.", email=user.email), "ok")
    return redirect(url_for("staff.users"))


def _users_page(form: UserForm, changing: tuple[int, UserChangeForm] | None = None, status: int = 200):
    people = db.session.scalars(select(User).order_by(User.email)).all()
    forms = {}
    for person in people:
        if changing and changing[0] == person.id:
            forms[person.id] = changing[1]
        else:
            forms[person.id] = UserChangeForm(formdata=None, prefix=f"u{person.id}", data=user_data(person))
    return render_template("staff/users.html", form=form, people=people, forms=forms), status
