"""The service's own promo feed: a FeedItem per post, unique by its idempotency key.

Its "network" is the database, so the item is written in the same transaction that records
the outcome: it is there exactly when the post says published.
"""

from flask import current_app, has_app_context
from sqlalchemy import select

from schedule_service import media
from schedule_service.clock import now
from schedule_service.models import FeedItem
from schedule_service.publishing.targets.base import Delivery, Outcome, register


class WebFeed:
    kind = "web"
    local = True

    def deduplicates(self, action: str) -> bool:
        return True

    def publish(self, delivery: Delivery) -> Outcome:
        session, post, rendered = delivery.session, delivery.post, delivery.rendered
        item = _item(delivery, post.idempotency_key)
        if item is None:
            item = FeedItem(
                idempotency_key=post.idempotency_key,
                slot_id=post.slot_id,
                lang=post.lang,
                title=rendered.title,
                text=rendered.text,
                url=rendered.link,
                image_url=_picture_url(post.slot.programme),
                published_at=now(),
                updated_at=now(),
            )
            session.add(item)
            session.flush()
        return Outcome.published(item.id, rendered.link, f"feed item {item.id}")

    def correct(self, delivery: Delivery) -> Outcome:
        item = _item(delivery, delivery.parent.idempotency_key)
        if item is None:
            return Outcome.failed("the feed item to correct is not there", retryable=False)
        rendered = delivery.rendered
        item.title, item.text, item.url, item.updated_at = rendered.title, rendered.text, rendered.link, now()
        delivery.session.flush()
        return Outcome.published(item.id, rendered.link, f"feed item {item.id} corrected")

    def withdraw(self, delivery: Delivery) -> Outcome:
        item = _item(delivery, delivery.parent.idempotency_key)
        if item is None:
            return Outcome.failed("the feed item to withdraw is not there", retryable=False)
        item.is_withdrawn, item.updated_at = True, now()
        delivery.session.flush()
        return Outcome.published(item.id, None, f"feed item {item.id} withdrawn")


def _picture_url(programme) -> str | None:
    """The picture the item goes out with: the uploaded one's share card, else the programme's ``image_url``.

    Kept on the item, so the feeds show the picture that was published, whatever changes later.
    """
    if programme.image_hash and has_app_context():
        return media.card_url(programme.image_hash, current_app.config["PUBLIC_URL"])
    return programme.image_url


def _item(delivery: Delivery, key: str) -> FeedItem | None:
    return delivery.session.scalar(select(FeedItem).where(FeedItem.idempotency_key == key))


register(WebFeed())
