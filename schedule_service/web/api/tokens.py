"""API tokens: staff list, make and revoke their own (admins everyone's); the token is shown once."""

from flask.views import MethodView
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from schedule_service import auth
from schedule_service.auth import actor, current_staff, require
from schedule_service.db import db
from schedule_service.models import ApiToken, User
from schedule_service.web.api.common import Blueprint, PageArgs, page_schema, paginate
from schedule_service.web.api.instants import rfc3339_utc
from schedule_service.web.errors import problem

blp = Blueprint("tokens", __name__, url_prefix="/api/v1/tokens", description="API tokens of staff users")


class TokenIn(Schema):
    name = fields.String(
        load_default="api",
        validate=validate.Length(min=1, max=100),
        metadata={"description": "a label to tell tokens apart"},
    )


class TokenOut(Schema):
    id = fields.Integer()
    name = fields.String()
    prefix = fields.String(metadata={"description": "the token's first characters"})
    user = fields.Function(lambda t: t.user.email)
    created_at = fields.Function(lambda t: rfc3339_utc(t.created_at))
    last_used_at = fields.Function(
        lambda t: rfc3339_utc(t.last_used_at),
        metadata={"description": "when the token was last sent, to the minute (null if never)"},
    )
    revoked_at = fields.Function(lambda t: rfc3339_utc(t.revoked_at))


class NewTokenOut(TokenOut):
    token = fields.String(metadata={"description": "the token itself; shown this once, stored only hashed"})


TokenPage = page_schema(TokenOut, "TokenPage")


def visible_tokens(user: User):
    """The tokens ``user`` may see and revoke: their own; an admin's, everyone's."""
    query = select(ApiToken)
    if not user.has_role("admin"):
        query = query.where(ApiToken.user_id == user.id)
    return query


@blp.route("")
class Tokens(MethodView):
    @require("editor")
    @blp.arguments(PageArgs, location="query", error_status_code=400)
    @blp.response(200, TokenPage)
    def get(self, args):
        """List your API tokens (an admin sees everyone's)."""
        return paginate(visible_tokens(current_staff()), ApiToken.id, args, "tokens.Tokens")

    @require("editor")
    @blp.arguments(TokenIn)
    @blp.response(201, NewTokenOut)
    def post(self, values):
        """Make a token for yourself; the answer holds it, once."""
        token, raw = auth.create_token(db.session, current_staff(), values["name"], actor())
        db.session.commit()
        token.token = raw
        return token


@blp.route("/<int:token_id>")
class TokenItem(MethodView):
    @require("editor")
    @blp.response(204)
    def delete(self, token_id):
        """Revoke a token of yours (an admin: anyone's); it stops working at once."""
        token = db.session.scalar(visible_tokens(current_staff()).where(ApiToken.id == token_id))
        if token is None:
            raise problem(404, f"you have no token {token_id}")
        auth.revoke_token(db.session, token, actor())
        db.session.commit()
