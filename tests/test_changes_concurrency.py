"""The change feed's guarantee on PostgreSQL (SPEC §10): many writers commit at once, one poller follows cursors.

Each writer transaction makes a programme (so its change is told apart by the programme's id),
flushes it (its change row and that row's id exist from then on), sometimes stays open a while
or rolls back, and commits. Commit order is taken from a counter row each transaction bumps just
before its commit and keeps locked until then. One writer holds its first transaction open
until the poller has read changes committed after it began: an id handed out at insert would
put its change behind the poller's cursor. The poller must see every committed change exactly
once, in commit order, and none rolled back.
"""

import random
import threading
import time
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from schedule_service import schedule
from schedule_service.db import db
from schedule_service.models import Change, generation

WRITERS = 6
ROUNDS = 15


def since_of(url: str) -> int:
    return int(parse_qs(urlsplit(url).query)["since"][0])


def test_a_poller_following_cursors_sees_every_commit_once_in_commit_order(pg_app):
    engine = db.engine
    start = db.session.scalar(select(func.max(Change.seq))) or 0
    db.session.commit()
    committed: dict[int, int] = {}  # programme id -> place in commit order
    rolled_back: set[int] = set()
    seen: list[dict] = []
    held_back = threading.Event()  # the poller has read changes committed after the held one began
    writers_done = threading.Event()
    errors: list[BaseException] = []
    held_ids: list[int] = []
    go = threading.Barrier(WRITERS + 1)

    def writer(number: int) -> None:
        rng = random.Random(number)
        try:
            with Session(engine) as s:
                go.wait()
                for round_ in range(ROUNDS):
                    programme = schedule.create_programme(s, {"title": f"w{number} r{round_}"}, "writer")
                    s.flush()  # its change row is in, with its insertion id
                    held = number == 0 and round_ == 0
                    if held:
                        held_ids.append(programme.id)
                        assert held_back.wait(30), "the poller never saw the others' changes"
                    elif rng.random() < 0.3:
                        time.sleep(rng.uniform(0.005, 0.05))  # held open while others commit
                    if not held and rng.random() < 0.15:
                        s.rollback()
                        rolled_back.add(programme.id)
                        continue
                    generation.bump(s)  # the counter row stays locked to commit: its value is commit order
                    place = generation.current(s)
                    s.commit()
                    committed[programme.id] = place
        except BaseException as e:  # reported by the test below
            errors.append(e)

    def poller() -> None:
        client = pg_app.test_client()
        cursor = start
        try:
            go.wait()
            while True:
                finished = writers_done.is_set()
                page = client.get(f"/api/v1/changes?since={cursor}&limit=7").get_json()
                seen.extend(page["items"])
                cursor = since_of(page["next"])
                if len(seen) >= 10:
                    held_back.set()
                if not page["items"]:
                    if finished:
                        return
                    time.sleep(0.002)
        except BaseException as e:
            errors.append(e)
            held_back.set()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    reader = threading.Thread(target=poller)
    for thread in (*threads, reader):
        thread.start()
    for thread in threads:
        thread.join(120)
    writers_done.set()
    reader.join(60)

    assert not errors, errors
    assert rolled_back and committed  # both kinds happened
    ids = [item["id"] for item in seen]
    assert len(ids) == len(set(ids)), "a change came twice"
    assert set(ids) == set(committed), "a committed change was missed, or a rolled-back one shown"
    assert not set(ids) & rolled_back
    assert [committed[i] for i in ids] == sorted(committed.values()), "changes out of commit order"
    cursors = [item["cursor"] for item in seen]
    assert cursors == sorted(set(cursors))
    assert all(item["action"] == "create" and item["data"]["id"] == item["id"] for item in seen)
    (held,) = held_ids
    assert held < max(ids) and ids.index(held) >= 10, (
        "the held transaction's change came before what committed while it was open"
    )


def test_api_writers_on_shared_channels_each_show_once_and_none_waits_forever(pg_app):
    """Slots added through the API at once, two writers a channel (each write locks its channel,
    then the generation, then the feed's lock): no deadlock, and each slot's change comes once."""
    from datetime import UTC, datetime, timedelta

    from schedule_service.auth import create_token, create_user

    user = create_user(db.session, "writer@example.test", "correct horse", "editor")
    _, raw = create_token(db.session, user)
    for slug in ("one", "two"):
        schedule.create_channel(db.session, {"slug": slug, "name": slug, "timezone": "UTC"}, "test")
    show = schedule.create_programme(db.session, {"title": "Show", "duration_minutes": 30}, "test")
    db.session.commit()
    start = db.session.scalar(select(func.max(Change.seq))) or 0
    headers = {"Authorization": f"Bearer {raw}"}
    made: list[int] = []
    statuses: list[int] = []
    go = threading.Barrier(4)

    def writer(number: int) -> None:
        client = pg_app.test_client()
        go.wait()
        for n in range(10):
            at = datetime(2031, 11, 21, tzinfo=UTC) + timedelta(hours=number // 2 * 100 + n * 2 + number % 2)
            resp = client.post(
                "/api/v1/slots",
                json={"channel": ("one", "two")[number % 2], "programme_id": show.id, "start": at.isoformat()},
                headers=headers,
            )
            statuses.append(resp.status_code)
            if resp.status_code == 201:
                made.append(resp.get_json()["id"])

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert statuses == [201] * 40
    client = pg_app.test_client()
    seen, cursor = [], start
    while items := client.get(f"/api/v1/changes?since={cursor}").get_json()["items"]:
        seen += items
        cursor = items[-1]["cursor"]
    assert sorted(i["id"] for i in seen) == sorted(made) and all(i["entity"] == "slot" for i in seen)
