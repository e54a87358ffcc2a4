"""The fast-entry forms of the week grid: repeat a slot, copy days, paste a lineup."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, RadioField, SelectChoice, SelectField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length

from schedule_service.fast_entry import MAX_LINES


class FastEntryForm(FlaskForm):
    """Look first (a dry run), then apply: both buttons on every fast-entry form."""

    preview = SubmitField(_l("Preview"))
    apply = SubmitField(_l("Apply"))

    @property
    def dry_run(self) -> bool:
        return not self.apply.data


class RepeatForm(FastEntryForm):
    every = RadioField(
        _l("Repeat"),
        choices=[
            SelectChoice("day", _l("every day")),
            SelectChoice("weekday", _l("on weekdays (Monday to Friday)")),
            SelectChoice("week", _l("every week")),
        ],
        default="day",
        validators=[InputRequired()],
    )
    until = DateField(
        _l("Until"),
        validators=[InputRequired(message=_l("Give the last broadcast day to repeat on."))],
        description=_l("the last broadcast day, included"),
    )


class CopyForm(FastEntryForm):
    source = DateField(
        _l("Copy from"),
        validators=[InputRequired(message=_l("Give the first broadcast day to copy."))],
        description=_l("the first broadcast day copied"),
    )
    days = SelectField(
        _l("How many days"),
        coerce=int,
        choices=[
            SelectChoice(1, _l("one day")),
            *(SelectChoice(n, str(n)) for n in range(2, 7)),
            SelectChoice(7, _l("a week (7 days)")),
        ],
        default=1,
    )
    onto = DateField(
        _l("Onto"),
        validators=[InputRequired(message=_l("Give the broadcast day to copy onto."))],
        description=_l("the broadcast day the first one lands on"),
    )


class LineupForm(FastEntryForm):
    day = DateField(_l("Broadcast day"), validators=[InputRequired(message=_l("Give the broadcast day."))])
    text = TextAreaField(
        _l("Lineup"),
        validators=[InputRequired(message=_l("Paste one line per programme.")), Length(max=40_000)],
        description=_l(
            'one line per programme, "HH:MM Title", in air order; times before the broadcast day starts are '
            "after midnight; each runs until the next, the last for its programme's length (at most %(n)s lines)",
            n=MAX_LINES,
        ),
        render_kw={"rows": 14, "spellcheck": "false"},
    )
    create_missing = BooleanField(_l("Create the programmes not found"))
