"""Publishing targets, one module per kind, each adding itself to ``base.REGISTRY``."""

from schedule_service.publishing.targets import mastodon, telegram, vk, web, webhook  # noqa: F401
from schedule_service.publishing.targets.base import REGISTRY, Adapter, Delivery, Outcome, adapter_for

__all__ = ["REGISTRY", "Adapter", "Delivery", "Outcome", "adapter_for"]
