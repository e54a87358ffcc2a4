"""The typed models; importing this package registers every table on ``Base.metadata``."""

from schedule_service.models.audit import AuditEntry
from schedule_service.models.change import Change
from schedule_service.models.channel import Channel
from schedule_service.models.edition import Edition
from schedule_service.models.generation import ScheduleGeneration
from schedule_service.models.import_job import ImportFileChunk, ImportJob
from schedule_service.models.import_memo import ImportMemo
from schedule_service.models.programme import Programme, ProgrammeTranslation
from schedule_service.models.promo import FeedItem, Post, PostAttempt, SchedulerHeartbeat
from schedule_service.models.slot import Slot
from schedule_service.models.target import Target
from schedule_service.models.user import ApiToken, User

__all__ = [
    "ApiToken",
    "AuditEntry",
    "Change",
    "Channel",
    "Edition",
    "FeedItem",
    "ImportFileChunk",
    "ImportJob",
    "ImportMemo",
    "Post",
    "PostAttempt",
    "Programme",
    "ProgrammeTranslation",
    "ScheduleGeneration",
    "SchedulerHeartbeat",
    "Slot",
    "Target",
    "User",
]
