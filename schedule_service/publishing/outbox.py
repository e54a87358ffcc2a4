"""The outbox: claim due posts under a lease, send each once, record an honest outcome.

The path of one post, each step its own short transaction, none held across the network:

1. **claim** (a batch): ``planned`` (or ``failed`` and due for a retry) → ``publishing`` with
   ``claimed_by`` and ``lease_until``; PostgreSQL skips rows another claimer holds
   (``FOR UPDATE SKIP LOCKED``), SQLite's ``BEGIN IMMEDIATE`` lets one writer in at a time and
   the ``UPDATE … WHERE status IN (…)`` only takes rows still claimable.
2. **prepare**: still ours, still valid? Render the text now, write the attempt row (no
   outcome yet: "the request may be going out"), renew the lease, commit.
3. **send** through the target's adapter, outside any transaction.
4. **record**: complete the attempt; ``published`` / ``failed`` (with ``retry_at`` while the post
   is valid) / ``unknown``; commit.

A process that dies between 1 and 2 leaves a lease and no open attempt: the post is claimed
again after the lease. One that dies in 3 leaves an open attempt: the post may have gone out,
so it is sent again only where the target deduplicates, else it becomes ``unknown``.

These functions run in the scheduler's worker threads and commit themselves. They live in
:mod:`.claiming` (steps 1–2), :mod:`.outcomes` (3–4), :mod:`.recovery` (leases that ran out,
moments that passed) and :mod:`.publisher` (the threads); this module is the one callers import.
"""

from schedule_service.publishing.claiming import claim_due, claimable, next_due_at, prepare, prepare_batch, release
from schedule_service.publishing.outcomes import backoff, deliver, record, record_batch, send
from schedule_service.publishing.publisher import Publisher
from schedule_service.publishing.recovery import expire_passed, recover_leases
from schedule_service.publishing.settings import Settings, settings

__all__ = [
    "Publisher",
    "Settings",
    "backoff",
    "claim_due",
    "claimable",
    "deliver",
    "expire_passed",
    "next_due_at",
    "prepare",
    "prepare_batch",
    "record",
    "record_batch",
    "recover_leases",
    "release",
    "send",
    "settings",
]
