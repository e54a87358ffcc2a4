"""The staff pages' forms (Flask-WTF, so each carries its CSRF token).

An edit form is filled from the API's representation of what it edits (see form_data.py), never
from the ORM object, and writes only what the person changed (:func:`changed_values`): saving a
form unchanged changes nothing (SPEC §12).
"""

from datetime import UTC, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    EmailField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    URL,
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from schedule_service.models.channel import ALL, HIGHLIGHTS, NONE
from schedule_service.models.programme import TRANSLATED
from schedule_service.models.target import KINDS
from schedule_service.models.user import ROLES
from schedule_service.web.staff.checked_form import FlaskForm  # Flask-WTF's, with the text rules on every field

FOLD_CHOICES = [
    SelectChoice("", "— (only when clocks go back)"),
    SelectChoice("0", "the first time (before the clocks go back)"),
    SelectChoice("1", "the second time (after the clocks go back)"),
]
ROLE_CHOICES = [SelectChoice(role) for role in ROLES]


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1000)])


class WallTimeField(DateTimeLocalField):
    """A wall time to the minute, or to the second when it has seconds (the API allows them)."""

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"], **kwargs)

    def _value(self):
        if self.raw_data or not self.data or not self.data.second:
            return super()._value()
        return self.data.strftime("%Y-%m-%dT%H:%M:%S")

    def __call__(self, **kwargs):
        if self.data and self.data.second and not self.raw_data:
            kwargs.setdefault("step", 1)  # else the browser shows, and may round to, whole minutes
        return super().__call__(**kwargs)


class SlotForm(FlaskForm):
    """Add or move a slot: a wall time in the channel's zone, a duration."""

    programme_id = SelectField("Programme", coerce=int, validators=[InputRequired()])
    #: How many programmes there are in all; the list may offer fewer (see grid.offer_programmes).
    programmes_total = 0
    start_local = WallTimeField(
        "Starts (channel's wall clock)",
        validators=[InputRequired(message="Give the start as date and time.")],
    )
    fold = SelectField("If that time happens twice", choices=FOLD_CHOICES, default="")
    duration_minutes = IntegerField(
        "Minutes",
        validators=[Optional(), NumberRange(min=1, max=48 * 60, message="Between 1 minute and 48 hours.")],
        description="empty: the programme's own duration",
    )
    premiere = BooleanField("Premiere")
    live = BooleanField("Live")
    promoted = BooleanField(_l("Promoted"), description=_l("gets promo posts on a channel that promotes highlights"))
    #: The slot's version when the form was filled in: a stale edit is refused.
    version = HiddenField()

    def values(self) -> dict:
        """The fields as schedule.create_slot / update_slot take them."""
        return {
            "start_local": self.start_local.data,
            "fold": int(self.fold.data) if self.fold.data in ("0", "1") else None,
            "duration_minutes": self.duration_minutes.data,
            "is_premiere": self.premiere.data,
            "is_live": self.live.data,
            "is_promoted": self.promoted.data,
        }

    def changes(self, shown: "SlotForm") -> dict:
        """What differs from the form as ``shown``; a wall time goes with its fold (they make one instant)."""
        changes = changed_values(shown.values(), self.values())
        if "start_local" in changes or "fold" in changes:
            changes.update(start_local=self.start_local.data, fold=self.values()["fold"])
        return changes


class VersionForm(FlaskForm):
    """A button acting on one version of a slot (cancel, restore)."""

    version = HiddenField(validators=[DataRequired()])


class NameForm(Form):
    """A channel's name in one language."""

    lang = StringField("Language", validators=[Optional(), Length(min=2, max=16)])
    name = StringField("Name in that language")


class EditionForm(Form):
    """One regional edition of a channel (SPEC §9): its schedule moved by ``shift``, in its own zone."""

    slug = StringField("Edition slug", validators=[Length(max=64)], description="empty: no such edition")
    name = StringField("Edition name", validators=[Length(max=200)])
    names = TextAreaField("Its names in other languages", description="one a line, as ru: Мир Сибирь")
    timezone = StringField("Edition time zone", validators=[Length(max=64)], description="IANA zone of its viewers")
    shift = StringField("Shift", validators=[Length(max=40)], description="ISO 8601, -PT4H: four hours earlier")

    def values(self) -> dict | None:
        """The edition as the API takes it; None for a row left empty."""
        slug = (self.slug.data or "").strip()
        if not slug and not (self["name"].data or "").strip():
            return None
        names = {}
        for line in (self.names.data or "").splitlines():
            lang, sep, name = line.partition(":")
            if sep and lang.strip() and name.strip():
                names[lang.strip()] = name.strip()
        return {
            "slug": slug,
            "name": (self["name"].data or "").strip(),
            "names": names,
            "timezone": (self.timezone.data or "").strip(),
            "shift": (self.shift.data or "").strip(),
        }

    def validate_names(self, field) -> None:
        for line in (field.data or "").splitlines():
            if line.strip() and ":" not in line:
                raise ValidationError("One name a line, after its language and a colon.")


class EmbargoTitleForm(Form):
    """What an embargoed programme is called in public, in one language."""

    lang = StringField("Language", validators=[Optional(), Length(min=2, max=16)])
    title = StringField(_l("Title in that language"), validators=[Length(max=300)])


class ChannelForm(FlaskForm):
    slug = StringField(
        "Slug",
        validators=[
            DataRequired(),
            Regexp(r"^[a-z0-9][a-z0-9-]{0,63}$", message="Lowercase letters, digits and -, up to 64."),
        ],
    )
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    names = FieldList(FormField(NameForm), min_entries=0)
    timezone = StringField("Time zone", validators=[DataRequired(), Length(max=64)], description="IANA, Europe/Moscow")
    broadcast_day_start = StringField(
        "Broadcast day starts", default="06:00", validators=[DataRequired()], description="local HH:MM"
    )
    xmltv_id = StringField("XMLTV id", validators=[Optional(), Length(max=200)])
    languages = StringField("Languages", description="comma-separated, en, ru", validators=[Length(max=200)])
    promote = SelectField(
        _l("Promote"),
        choices=[
            SelectChoice(HIGHLIGHTS, _l("Highlights: promoted slots, premieres and exclusives")),
            SelectChoice(ALL, _l("Every slot")),
            SelectChoice(NONE, _l("No slot")),
        ],
        default=HIGHLIGHTS,
    )
    editions = FieldList(FormField(EditionForm), min_entries=0)
    embargo_title = FieldList(FormField(EmbargoTitleForm), min_entries=0)

    def values(self) -> dict:
        return {
            "editions": [v for v in (entry.form.values() for entry in self.editions) if v is not None],
            "embargo_title": {
                row.lang.data.strip(): row.title.data.strip()
                for row in (entry.form for entry in self.embargo_title)
                if (row.lang.data or "").strip() and (row.title.data or "").strip()
            },
            "slug": self.slug.data,
            "name": self.name.data,
            "names": {
                row.lang.data.strip(): row["name"].data.strip()
                for row in (entry.form for entry in self.names)
                if (row.lang.data or "").strip() and (row["name"].data or "").strip()
            },
            "timezone": self.timezone.data.strip(),
            "broadcast_day_start": self.broadcast_day_start.data.strip(),
            "xmltv_id": self.xmltv_id.data or None,
            "languages": [x.strip() for x in (self.languages.data or "").split(",") if x.strip()],
            "promote": self.promote.data,
        }

    def validate_names(self, field) -> None:
        langs = []
        for entry in field:
            lang, name = (entry.lang.data or "").strip(), (entry["name"].data or "").strip()
            if name and not lang:
                raise ValidationError("A name needs its language.")
            if lang and name:
                langs.append(lang)
        if len(langs) != len(set(langs)):
            raise ValidationError("Each language once.")

    def validate_embargo_title(self, field) -> None:
        langs = []
        for entry in field:
            lang, title = (entry.lang.data or "").strip(), (entry.title.data or "").strip()
            if title and not lang:
                raise ValidationError("A name needs its language.")
            if lang and title:
                langs.append(lang)
        if len(langs) != len(set(langs)):
            raise ValidationError("Each language once.")


class GuestForm(Form):
    """One guest: a name, and the role they appear in."""

    name = StringField("Guest's name", validators=[Length(max=200)])
    role = StringField("Role", validators=[Length(max=300)])

    def validate_role(self, field) -> None:
        if (field.data or "").strip() and not (self["name"].data or "").strip():
            raise ValidationError("A guest needs a name.")


class ProgrammeForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=300)])
    subtitle = StringField("Subtitle", validators=[Length(max=300)])
    summary = TextAreaField("Summary")
    category = StringField("Category", validators=[Length(max=100)])
    guests = FieldList(FormField(GuestForm), min_entries=0)
    presenter = StringField("Presenter", validators=[Length(max=200)])
    exclusive = BooleanField("World exclusive")
    quote = TextAreaField("Pull quote")
    image_url = StringField(
        "Image URL",
        validators=[Optional(), URL(require_tld=False, message="An http(s) URL."), Length(max=1000)],
    )
    image_alt = StringField("Picture's alt text", validators=[Length(max=1000)])
    image_credit = StringField("Image credit", validators=[Length(max=300)])
    #: Not among values(): an upload (or a removal) is a change of its own, so an unchanged save keeps the picture.
    picture = FileField("Upload a picture", description="JPEG, PNG or WebP, at most 10 MB; it replaces the one shown")
    remove_picture = BooleanField("Remove the picture")
    duration_minutes = IntegerField(
        "Minutes", validators=[Optional(), NumberRange(min=1, max=48 * 60, message="Between 1 minute and 48 hours.")]
    )
    language = StringField("Language of the fields above", default="en", validators=[DataRequired(), Length(2, 16)])
    episode_num = StringField("Episode", validators=[Length(max=100)])
    embargo_until = StringField(
        _l("Embargo until"),
        validators=[Length(max=64)],
        description=_l(
            "an instant with its offset, 2031-11-27T21:00:00+03:00; until then the public sees the channel's "
            "embargo title and no promo goes out; empty: no embargo"
        ),
    )
    # translations: rows of TranslationForm, set below, once that is made from this form's fields.

    def validate_image_url(self, field) -> None:
        if field.data and not field.data.lower().startswith(("http://", "https://")):
            raise ValidationError("An http(s) URL.")

    def validate_embargo_until(self, field) -> None:
        try:
            _instant(field.data)
        except ValueError as e:
            raise ValidationError(_l("An instant with its offset, like 2031-11-27T21:00:00+03:00.")) from e

    def validate_translations(self, field) -> None:
        langs = [entry.lang.data.strip() for entry in field if entry.lang.data and entry.lang.data.strip()]
        if len(langs) != len(set(langs)):
            raise ValidationError("Each language once.")
        for entry in field:
            filled = any(_field_value(entry[name]) for name in TRANSLATED)
            if filled and not (entry.lang.data or "").strip():
                raise ValidationError("A translation needs its language.")

    def values(self) -> dict:
        text = {name: _field_value(self[name]) for name in _PROGRAMME_TEXT}
        translations = {}
        for entry in self.translations:
            lang = (entry.lang.data or "").strip()
            fields = {name: _field_value(entry[name]) for name in TRANSLATED}
            if lang and any(fields.values()):
                translations[lang] = fields
        return {
            **text,
            "guests": _field_value(self.guests),
            "is_exclusive": self.exclusive.data,
            "duration_minutes": self.duration_minutes.data,
            "language": self.language.data.strip(),
            "translations": translations,
            "embargo_until": _instant(self.embargo_until.data),
        }


def _instant(text: str | None):
    """An RFC 3339 instant as the API writes it (in UTC), or None for an empty field."""
    text = (text or "").strip()
    if not text:
        return None
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError("no offset")
    return value.astimezone(UTC)


_PROGRAMME_TEXT = (
    "title",
    "subtitle",
    "summary",
    "category",
    "presenter",
    "quote",
    "image_url",
    "image_alt",
    "image_credit",
    "episode_num",
)


def _translated(name: str):
    """The programme form's field ``name`` as a translation row has it: the same, but never required."""
    unbound = getattr(ProgrammeForm, name)
    kwargs = dict(unbound.kwargs)
    if "validators" in kwargs:
        kwargs["validators"] = [v for v in kwargs["validators"] if not isinstance(v, DataRequired | InputRequired)]
    return unbound.field_class(*unbound.args, **kwargs)


#: A translation row: its language, then each field of TRANSLATED made as the programme form makes it,
#: so a field that becomes translatable gets its row here by being added to TRANSLATED.
TranslationForm = type(
    "TranslationForm",
    (Form,),
    {"lang": StringField("Language", validators=[Optional(), Length(min=2, max=16)])}
    | {name: _translated(name) for name in TRANSLATED},
)
ProgrammeForm.translations = FieldList(FormField(TranslationForm), min_entries=0)


def _field_value(field) -> Any:
    """A programme field's value as the API has it: text without CRs, None for empty; guest rows as a list."""
    if isinstance(field, FieldList):
        return [
            {"name": row["name"].data.strip(), "role": (row.role.data or "").strip() or None}
            for row in (entry.form for entry in field)
            if (row["name"].data or "").strip()
        ]
    return (field.data or "").replace("\r\n", "\n").strip() or None


class UserForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=320)])
    role = SelectField("Role", choices=ROLE_CHOICES, default="editor")
    password = PasswordField("Password", validators=[DataRequired(), Length(min=8, message="At least 8 characters.")])


class UserChangeForm(FlaskForm):
    """A user's role, activity and (write-only) password."""

    role = SelectField("Role", choices=ROLE_CHOICES)
    active = BooleanField("Active")
    password = PasswordField(
        "New password",
        validators=[Optional(), Length(min=8, message="At least 8 characters.")],
        description="empty: unchanged",
    )


class StepForm(Form):
    """One step of a promo plan: an offset from air time, or a day and a wall time."""

    name = StringField("Step", validators=[Length(max=64)])
    offset = StringField("Offset", validators=[Length(max=40)], description="from air time, -PT10M")
    day = IntegerField("Day", validators=[Optional()], description="-1: the day before")
    at_local = StringField("At", validators=[Length(max=5)], description="HH:MM, audience's zone")
    targets = SelectMultipleField("Targets", widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())
    template = SelectField("Template", default="")

    def is_blank(self) -> bool:
        return not any((self.name.data, self.offset.data, self.day.data is not None, self.at_local.data))

    def step(self, was: dict | None = None) -> dict:
        """The step as promos.plan takes it; its own validation says what is wrong.

        :param was: the step this row showed: its targets keep their order, new ones follow.
        """
        ticked = list(self.targets.data or [])
        before = [t for t in (was or {}).get("targets") or [] if t in ticked]
        step = {"name": (self.name.data or "").strip(), "targets": before + [t for t in ticked if t not in before]}
        if (self.offset.data or "").strip():
            step["offset"] = self.offset.data.strip()
        if self.day.data is not None or (self.at_local.data or "").strip():
            step["day"] = self.day.data
            step["at_local"] = (self.at_local.data or "").strip()
        if self.template.data:
            step["template"] = self.template.data
        return step


class PlanForm(FlaskForm):
    steps = FieldList(FormField(StepForm), min_entries=0)
    preview_slot = SelectField("Preview with slot", coerce=lambda v: int_or_none(v), validate_choice=False)
    preview_lang = SelectField("In", default="")

    def setup(self, targets: list[str], templates: list[str], slots: list, langs: list[str], spare: int = 2) -> None:
        """Give the choices, and leave ``spare`` blank rows to add steps without a script.

        A row also offers the target or template it names that is not there (any more), so it shows.
        """
        blanks = 0
        for entry in reversed(self.steps.entries):
            if not entry.form.is_blank():
                break
            blanks += 1
        for _ in range(max(spare - blanks, 0)):
            self.steps.append_entry()
        for entry in self.steps:
            named = [t for t in entry.targets.data or [] if t not in targets]
            entry.targets.choices = [SelectChoice(t) for t in [*targets, *named]]
            other = [entry.template.data] if entry.template.data and entry.template.data not in templates else []
            entry.template.choices = [SelectChoice("", "default"), *(SelectChoice(t) for t in [*templates, *other])]
        self.preview_slot.choices = slots
        self.preview_lang.choices = [SelectChoice("", "the target's language"), *(SelectChoice(x) for x in langs)]

    def plan(self, shown: list[dict] | None = None) -> tuple[list[dict], list[int]]:
        """The filled-in steps, and the row each came from (to put errors back by the row).

        :param shown: the steps the form showed, row by row (see :meth:`StepForm.step`).
        """
        shown = shown or []
        steps, rows = [], []
        for i, entry in enumerate(self.steps):
            if not entry.form.is_blank():
                steps.append(entry.form.step(shown[i] if i < len(shown) else None))
                rows.append(i)
        return steps, rows


class MarkPublishedForm(FlaskForm):
    url = StringField("Where it can be seen", validators=[Optional(), Length(max=1000)])
    external_id = StringField("Its id there", validators=[Optional(), Length(max=300)])


class TargetForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=64)])
    kind = SelectField("Kind", choices=[SelectChoice(k) for k in KINDS])
    url = StringField("URL", validators=[Length(max=1000)], description="webhook endpoint or Mastodon server")
    secret = PasswordField("Signing secret", description="webhook: whsec_…; write-only, empty keeps it")
    token = PasswordField("Token", description="Mastodon, Telegram or VK community token; write-only, empty keeps it")
    chat_id = StringField(
        "Telegram chat or VK community",
        validators=[Length(max=200)],
        description="Telegram: @channel or -100…; VK: the community's id",
    )
    lang = SelectField("Language", default="")
    timezone = StringField("Audience zone", validators=[Length(max=64)], description="IANA; empty: the channel's")
    edition = SelectField("Edition", default="", description="its posts follow that edition's air times and zone")
    max_length = IntegerField("Length limit", validators=[Optional()], description="empty: the network's own")
    requires_approval = BooleanField("Hold posts for approval")
    enabled = BooleanField("Enabled", default=True)

    def values(self, creating: bool) -> dict:
        values = {
            "url": (self.url.data or "").strip() or None,
            "chat_id": (self.chat_id.data or "").strip() or None,
            "lang": self.lang.data or None,
            "timezone": (self.timezone.data or "").strip() or None,
            "edition": self.edition.data or None,
            "max_length": self.max_length.data,
            "is_approval_required": self.requires_approval.data,
            "is_enabled": self.enabled.data,
        }
        if creating:
            values.update(name=(self.name.data or "").strip(), kind=self.kind.data)
        for key in ("secret", "token"):
            if self[key].data:
                values[key] = self[key].data
        return values

    def changes(self, shown: "TargetForm") -> dict:
        """What differs from the form as ``shown``; a credential typed in always counts (it is never shown)."""
        return changed_values(shown.values(creating=False), self.values(creating=False))


class TokenForm(FlaskForm):
    name = StringField("Name", default="api", validators=[DataRequired(), Length(max=100)])


def int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def changed_values(shown: dict[str, Any], posted: dict[str, Any]) -> dict[str, Any]:
    """The values of ``posted`` that differ from ``shown`` (both as a form's ``values()`` gives them).

    Compared after the form's own tidying on both sides, so what a browser does to a value on the
    way back (CRLF line ends, an empty field for a null) is no change, and a save writes only what
    the person changed.
    """
    return {key: value for key, value in posted.items() if key not in shown or shown[key] != value}


def add_errors(form: FlaskForm, errors: dict[str, str], fields: dict[str, str] | None = None) -> list[str]:
    """Put a domain operation's {field: message} next to the form's fields; return the ones without a field."""
    leftover = []
    for key, message in errors.items():
        name = (fields or {}).get(key, key)
        if name in form._fields:
            form[name].errors = [*form[name].errors, message]
        else:
            leftover.append(f"{key}: {message}")
    return leftover
