"""The outbox's knobs, read from the app's config."""

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app


@dataclass(frozen=True)
class Settings:
    """The outbox's knobs, from the app's config."""

    lease: timedelta
    batch: int
    timeout: float
    concurrency: int
    retry_base: float
    retry_cap: float
    max_attempts: int
    #: Targets may be called inside the network (TARGETS_ALLOW_PRIVATE: test setups only).
    allow_private: bool = False

    @classmethod
    def from_config(cls, config) -> "Settings":
        """Read the settings; a lease too short to cover a call to a target is refused."""
        made = cls(
            lease=timedelta(seconds=float(config.get("PUBLISH_LEASE_SECONDS", 60))),
            batch=int(config.get("PUBLISH_BATCH", 200)),
            timeout=float(config.get("TARGET_TIMEOUT_SECONDS", 10)),
            concurrency=int(config.get("PUBLISH_CONCURRENCY", 8)),
            retry_base=float(config.get("PUBLISH_RETRY_BASE_SECONDS", 5)),
            retry_cap=float(config.get("PUBLISH_RETRY_CAP_SECONDS", 900)),
            max_attempts=int(config.get("PUBLISH_MAX_ATTEMPTS", 8)),
            allow_private=bool(config.get("TARGETS_ALLOW_PRIVATE", False)),
        )
        # A claim must outlast the call it covers, or another scheduler could take the post
        # while its request is still on the way.
        if made.lease.total_seconds() < 2 * made.timeout + 1:
            raise ValueError(
                f"PUBLISH_LEASE_SECONDS ({made.lease.total_seconds():g}) must be at least twice "
                f"TARGET_TIMEOUT_SECONDS ({made.timeout:g}) and a second"
            )
        return made


def settings() -> Settings:
    return Settings.from_config(current_app.config)
