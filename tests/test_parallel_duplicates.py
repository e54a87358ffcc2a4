"""Parallel creates of one unique name: exactly one wins with 201, the others get 409, none a 500.

Real threads on one database, each request with its own session, all released at once, as
clients racing to create the same channel or target would be (issue 17).
"""

import threading

import pytest
from sqlalchemy import func, select

from schedule_service.models import Channel, Target

CLIENTS = 6


def race(app, url: str, body: dict, headers: dict) -> list[int]:
    """POST ``body`` to ``url`` from CLIENTS threads at once; their statuses."""
    start = threading.Barrier(CLIENTS)
    statuses: list[int] = []

    def one() -> None:
        client = app.test_client()
        start.wait()
        statuses.append(client.post(url, json=body, headers=headers).status_code)

    threads = [threading.Thread(target=one) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(statuses) == CLIENTS
    return sorted(statuses)


@pytest.mark.parametrize("attempt", range(3))
def test_parallel_creates_of_one_channel_slug(app, session, editor, attempt):
    body = {"slug": f"race-{attempt}", "name": "Race", "timezone": "UTC"}
    assert race(app, "/api/v1/channels", body, editor) == [201] + [409] * (CLIENTS - 1)
    assert session.scalar(select(func.count()).select_from(Channel)) == 1


def test_parallel_creates_of_one_target_name(app, session, admin):
    body = {"name": "hook", "kind": "webhook", "url": "https://hooks.example.org/x", "secret": "whsec_" + "A" * 40}
    assert race(app, "/api/v1/targets", body, admin) == [201] + [409] * (CLIENTS - 1)
    assert session.scalar(select(func.count()).select_from(Target).where(Target.name == "hook")) == 1
