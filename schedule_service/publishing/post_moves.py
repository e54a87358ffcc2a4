"""Moving a claimed post to what it is now instead of sending it: planned again, failed, expired."""

from datetime import datetime

from schedule_service.models import Post
from schedule_service.models.promo import EXPIRED, FAILED


def move_post(post: Post, status: str) -> None:
    post.status = status
    post.lease_until = None


def fail_post(post: Post, at: datetime, error: str) -> None:
    move_post(post, FAILED)
    post.last_error = error


def expire_post(post: Post, at: datetime, why: str) -> None:
    move_post(post, EXPIRED)
    post.retry_at = None
    post.last_error = f"{why} (valid until {post.valid_until.isoformat()})"
