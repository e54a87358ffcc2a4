"""The staff pages' forms (Flask-WTF, so each carries its CSRF token)."""

from flask_wtf import FlaskForm
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

from schedule_service.models.target import KINDS
from schedule_service.models.user import ROLES

FOLD_CHOICES = [
    SelectChoice("", "— (only when clocks go back)"),
    SelectChoice("0", "the first time (before the clocks go back)"),
    SelectChoice("1", "the second time (after the clocks go back)"),
]
ROLE_CHOICES = [SelectChoice(role) for role in ROLES]


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1000)])


class SlotForm(FlaskForm):
    """Add or move a slot: a wall time in the channel's zone, a duration."""

    programme_id = SelectField("Programme", coerce=int, validators=[InputRequired()])
    #: How many programmes there are in all; the list may offer fewer (see grid.offer_programmes).
    programmes_total = 0
    start_local = DateTimeLocalField(
        "Starts (channel's wall clock)",
        format="%Y-%m-%dT%H:%M",
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
        }


class VersionForm(FlaskForm):
    """A button acting on one version of a slot (cancel, restore)."""

    version = HiddenField(validators=[DataRequired()])


class ChannelForm(FlaskForm):
    slug = StringField(
        "Slug",
        validators=[
            DataRequired(),
            Regexp(r"^[a-z0-9][a-z0-9-]{0,63}$", message="Lowercase letters, digits and -, up to 64."),
        ],
    )
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    names = TextAreaField(
        "Names in other languages", description='one per line, "ru: Мир"', validators=[Length(max=2000)]
    )
    timezone = StringField("Time zone", validators=[DataRequired(), Length(max=64)], description="IANA, Europe/Moscow")
    broadcast_day_start = StringField(
        "Broadcast day starts", default="06:00", validators=[DataRequired()], description="local HH:MM"
    )
    xmltv_id = StringField("XMLTV id", validators=[Optional(), Length(max=200)])
    languages = StringField("Languages", description="comma-separated, en, ru", validators=[Length(max=200)])

    def values(self) -> dict:
        return {
            "slug": self.slug.data,
            "name": self.name.data,
            "names": parse_pairs(self.names.data),
            "timezone": self.timezone.data.strip(),
            "broadcast_day_start": self.broadcast_day_start.data.strip(),
            "xmltv_id": self.xmltv_id.data or None,
            "languages": [x.strip() for x in (self.languages.data or "").split(",") if x.strip()],
        }

    def validate_names(self, field) -> None:
        for line in (field.data or "").splitlines():
            if line.strip() and ":" not in line:
                raise ValidationError(f'"{line.strip()}" is not "lang: name"')


class TranslationForm(Form):
    lang = StringField("Language", validators=[Optional(), Length(min=2, max=16)])
    title = StringField("Title", validators=[Length(max=300)])
    subtitle = StringField("Subtitle", validators=[Length(max=300)])
    summary = TextAreaField("Summary")
    quote = TextAreaField("Quote")


class ProgrammeForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=300)])
    subtitle = StringField("Subtitle", validators=[Length(max=300)])
    summary = TextAreaField("Summary")
    category = StringField("Category", validators=[Length(max=100)])
    guests = TextAreaField("Guests", description='one per line, "Name | role"')
    presenter = StringField("Presenter", validators=[Length(max=200)])
    exclusive = BooleanField("World exclusive")
    quote = TextAreaField("Pull quote")
    image_url = StringField(
        "Image URL",
        validators=[Optional(), URL(require_tld=False, message="An http(s) URL."), Length(max=1000)],
    )
    image_credit = StringField("Image credit", validators=[Length(max=300)])
    duration_minutes = IntegerField(
        "Minutes", validators=[Optional(), NumberRange(min=1, max=48 * 60, message="Between 1 minute and 48 hours.")]
    )
    language = StringField("Language of the fields above", default="en", validators=[DataRequired(), Length(2, 16)])
    episode_num = StringField("Episode", validators=[Length(max=100)])
    translations = FieldList(FormField(TranslationForm), min_entries=0)

    def validate_image_url(self, field) -> None:
        if field.data and not field.data.lower().startswith(("http://", "https://")):
            raise ValidationError("An http(s) URL.")

    def validate_guests(self, field) -> None:
        for line in (field.data or "").splitlines():
            if len(line.split("|", 1)[0].strip()) > 200:
                raise ValidationError("A guest's name has at most 200 characters.")

    def validate_translations(self, field) -> None:
        langs = [entry.lang.data.strip() for entry in field if entry.lang.data and entry.lang.data.strip()]
        if len(langs) != len(set(langs)):
            raise ValidationError("Each language once.")
        for entry in field:
            filled = any(entry[name].data for name in ("title", "subtitle", "summary", "quote"))
            if filled and not (entry.lang.data or "").strip():
                raise ValidationError("A translation needs its language.")

    def values(self) -> dict:
        text = {name: (self[name].data or "").strip() or None for name in _PROGRAMME_TEXT}
        translations = {}
        for entry in self.translations:
            lang = (entry.lang.data or "").strip()
            fields = {k: (entry[k].data or "").strip() or None for k in ("title", "subtitle", "summary", "quote")}
            if lang and any(fields.values()):
                translations[lang] = fields
        return {
            **text,
            "guests": parse_guests(self.guests.data),
            "is_exclusive": self.exclusive.data,
            "duration_minutes": self.duration_minutes.data,
            "language": self.language.data.strip(),
            "translations": translations,
        }


_PROGRAMME_TEXT = (
    "title",
    "subtitle",
    "summary",
    "category",
    "presenter",
    "quote",
    "image_url",
    "image_credit",
    "episode_num",
)


class UserForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=320)])
    role = SelectField("Role", choices=ROLE_CHOICES, default="editor")
    password = PasswordField("Password", validators=[DataRequired(), Length(min=8, message="At least 8 characters.")])


class UserChangeForm(FlaskForm):
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

    def step(self) -> dict:
        """The step as promos.plan takes it; its own validation says what is wrong."""
        step = {"name": (self.name.data or "").strip(), "targets": list(self.targets.data or [])}
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
        """Give the choices, and leave ``spare`` blank rows to add steps without a script."""
        blanks = 0
        for entry in reversed(self.steps.entries):
            if not entry.form.is_blank():
                break
            blanks += 1
        for _ in range(max(spare - blanks, 0)):
            self.steps.append_entry()
        for entry in self.steps:
            entry.targets.choices = [SelectChoice(t) for t in targets]
            entry.template.choices = [SelectChoice("", "default"), *(SelectChoice(t) for t in templates)]
        self.preview_slot.choices = slots
        self.preview_lang.choices = [SelectChoice("", "the target's language"), *(SelectChoice(x) for x in langs)]

    def plan(self) -> tuple[list[dict], list[int]]:
        """The filled-in steps, and the row each came from (to put errors back by the row)."""
        steps, rows = [], []
        for i, entry in enumerate(self.steps):
            if not entry.form.is_blank():
                steps.append(entry.form.step())
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
    max_length = IntegerField("Length limit", validators=[Optional()], description="empty: the network's own")
    requires_approval = BooleanField("Hold posts for approval")
    enabled = BooleanField("Enabled", default=True)

    def values(self, creating: bool) -> dict:
        values = {
            "url": (self.url.data or "").strip() or None,
            "chat_id": (self.chat_id.data or "").strip() or None,
            "lang": self.lang.data or None,
            "timezone": (self.timezone.data or "").strip() or None,
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


class TokenForm(FlaskForm):
    name = StringField("Name", default="api", validators=[DataRequired(), Length(max=100)])


def int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_pairs(text: str | None) -> dict[str, str]:
    """'ru: Мир' lines → {"ru": "Мир"}."""
    out = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and value.strip():
            out[key.strip()] = value.strip()
    return out


def parse_guests(text: str | None) -> list[dict[str, str | None]]:
    """'Name | role' lines → [{"name", "role"}]."""
    guests = []
    for line in (text or "").splitlines():
        name, _, role = line.partition("|")
        if name.strip():
            guests.append({"name": name.strip(), "role": role.strip() or None})
    return guests


def guests_text(guests: list[dict] | None) -> str:
    return "\n".join(f"{g['name']} | {g['role']}" if g.get("role") else g["name"] for g in guests or [])


def pairs_text(pairs: dict[str, str] | None) -> str:
    return "\n".join(f"{k}: {v}" for k, v in (pairs or {}).items())


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
