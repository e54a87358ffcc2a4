from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, attribute_keyed_dict, mapped_column, relationship

from schedule_service.clock import now
from schedule_service.db import Base, UtcDateTime

#: The fields a translation may give; what it leaves empty falls back to the programme's own.
TRANSLATED = ("title", "subtitle", "summary", "quote", "category", "image_alt", "guests")


class ProgrammeTraits:
    """What a programme knows from its own columns; shared by the ORM row and listings' light rows."""

    __slots__ = ()

    translations: dict[str, Any]

    def text(self, field: str, lang: str | None) -> str | None:
        """Return ``field`` in ``lang`` when translated, else in the programme's own language."""
        tr = self.translations.get(lang or "")
        value = getattr(tr, field, None) if tr is not None else None
        return value or getattr(self, field)

    def guests_in(self, lang: str | None) -> list[dict[str, str]]:
        """Return the guests (name and role) in ``lang`` when translated, else as the programme gives them."""
        return self.text("guests", lang) or []


class Programme(ProgrammeTraits, Base):
    __tablename__ = "programme"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    subtitle: Mapped[str | None] = mapped_column(String(300))
    summary: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(100))
    #: [{"name": ..., "role": ...}]
    guests: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    presenter: Mapped[str | None] = mapped_column(String(200))
    is_exclusive: Mapped[bool] = mapped_column(default=False)
    quote: Mapped[str | None] = mapped_column(Text)
    image_url: Mapped[str | None] = mapped_column(String(1000))
    #: The picture described for those who cannot see it, in the programme's language.
    image_alt: Mapped[str | None] = mapped_column(String(1000))
    image_credit: Mapped[str | None] = mapped_column(String(300))
    #: The uploaded picture's SHA-256 (media.py keeps it by this); it wins over ``image_url``.
    image_hash: Mapped[str | None] = mapped_column(String(64))
    duration_minutes: Mapped[int | None]
    #: Language of the untranslated fields.
    language: Mapped[str] = mapped_column(String(16), default="en")
    episode_num: Mapped[str | None] = mapped_column(String(100))
    #: Identity of a programme from an XMLTV import, so a re-import keeps ids stable.
    import_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    #: The import run (its audit entry) that created or last changed the programme.
    import_id: Mapped[int | None]
    #: Before this instant nothing about the programme leaves the service (SPEC §8b).
    embargo_until: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    #: The programme's own promo plan; replaces its channel's when set.
    promo_plan: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=now, onupdate=now)

    translations: Mapped[dict[str, "ProgrammeTranslation"]] = relationship(
        collection_class=attribute_keyed_dict("lang"),  # one class, made once, for every programme
        back_populates="programme",
        cascade="all, delete-orphan",
        lazy="selectin",
    )

    def __repr__(self) -> str:
        return f"<Programme {self.id} {self.title!r}>"


class ProgrammeTranslation(Base):
    __tablename__ = "programme_translation"
    __table_args__ = (UniqueConstraint("programme_id", "lang"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id", ondelete="CASCADE"))
    lang: Mapped[str] = mapped_column(String(16))
    title: Mapped[str | None] = mapped_column(String(300))
    subtitle: Mapped[str | None] = mapped_column(String(300))
    summary: Mapped[str | None] = mapped_column(Text)
    quote: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(100))
    image_alt: Mapped[str | None] = mapped_column(String(1000))
    #: [{"name": ..., "role": ...}] in this language; null when the programme's own list serves.
    guests: Mapped[list[dict[str, str]] | None] = mapped_column(JSON(none_as_null=True))

    programme: Mapped[Programme] = relationship(back_populates="translations")

    def __repr__(self) -> str:
        return f"<ProgrammeTranslation {self.programme_id} {self.lang}>"
