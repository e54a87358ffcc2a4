"""Targets never call inside the network: refused when set up, and again when sending after DNS resolution.

The test setup allows private addresses (its fake targets listen on loopback); each test here
turns that off, as production has it.
"""

import pytest

from schedule_service import clock
from schedule_service.models import Post, Target
from schedule_service.models.promo import FAILED, PUBLISHED
from schedule_service.publishing import addresses
from schedule_service.publishing.targets import adapter_for
from schedule_service.publishing.targets.base import FAILED as FAILED_OUTCOME
from tests import publishing_support as support
from tests.conftest import utc
from tests.publishing_support import (
    BOT_TOKEN,
    MASTODON_TOKEN,
    SECRET,
    VK_COMMUNITY,
    VK_TOKEN,
    mastodon_server,
    telegram_server,
    vk_server,
    webhook_sink,
)
from tests.test_targets import delivery

make_post, make_target, publish, quiet_channel = (
    support.make_post,
    support.make_target,
    support.publish,
    support.quiet_channel,
)

START = utc(2031, 11, 21, 21, 5)
NOON = utc(2031, 11, 21, 12, 0)
#: A name no real DNS answers; each test says what it resolves to.
NAME = "hooks.example.test"
#: An address outside the network (documentation ranges are not global, so a real public one).
OUTSIDE = "93.184.215.14"


@pytest.fixture
def production_rules(app):
    app.config["TARGETS_ALLOW_PRIVATE"] = False
    return app


@pytest.fixture
def dns(monkeypatch):
    """A resolver the test controls: name → addresses; other names are looked up for real."""
    table: dict[str, list[str]] = {}
    real = addresses.resolve

    def resolve(host, port):
        if host in table:
            import socket

            return [
                (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in table[host]
            ]
        return real(host, port)

    monkeypatch.setattr(addresses, "resolve", resolve)
    return table


INSIDE = [
    "http://127.0.0.1:5432/",
    "http://[::1]/hook",
    "http://localhost:8080/hook",
    "http://10.1.2.3/hook",
    "http://172.16.0.9/hook",
    "http://192.168.1.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/hook",
    "http://224.0.0.251/hook",
    "http://[ff02::1]/hook",
    "http://0.0.0.0:8000/",
    "http://[::ffff:127.0.0.1]/hook",
]


@pytest.mark.parametrize("url", INSIDE)
def test_a_webhook_inside_the_network_is_refused_when_set_up(client, admin, production_rules, url):
    resp = client.post(
        "/api/v1/targets", json={"name": "hook", "kind": "webhook", "url": url, "secret": SECRET}, headers=admin
    )
    assert resp.status_code == 422
    assert "inside the network" in resp.json["errors"]["url"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "social", "kind": "mastodon", "url": "http://10.0.0.7", "token": MASTODON_TOKEN},
        {"name": "tg", "kind": "telegram", "url": "http://169.254.169.254", "token": BOT_TOKEN, "chat_id": "@tv"},
        {"name": "vk", "kind": "vk", "url": "http://127.0.0.1:9/method", "token": VK_TOKEN, "chat_id": VK_COMMUNITY},
    ],
    ids=["mastodon", "telegram", "vk"],
)
def test_a_base_url_inside_the_network_is_refused_when_set_up(client, admin, production_rules, body):
    resp = client.post("/api/v1/targets", json=body, headers=admin)
    assert resp.status_code == 422 and "inside the network" in resp.json["errors"]["url"]


def test_a_name_that_resolves_inside_is_refused_when_set_up_and_a_change_to_it_too(
    client, admin, production_rules, dns
):
    dns[NAME] = [OUTSIDE]
    hook = {"name": "hook", "kind": "webhook", "url": f"https://{NAME}/hook", "secret": SECRET}
    assert client.post("/api/v1/targets", json=hook, headers=admin).status_code == 201
    dns["metadata.example.test"] = ["169.254.169.254"]
    resp = client.patch("/api/v1/targets/hook", json={"url": "http://metadata.example.test/"}, headers=admin)
    assert resp.status_code == 422 and "169.254.169.254" in resp.json["errors"]["url"]
    assert client.get("/api/v1/targets/hook", headers=admin).json["url"] == f"https://{NAME}/hook"


def test_targets_outside_or_with_the_test_setting_are_taken(client, admin, production_rules, app):
    outside = {"name": "out", "kind": "webhook", "url": f"http://{OUTSIDE}/hook", "secret": SECRET}
    assert client.post("/api/v1/targets", json=outside, headers=admin).status_code == 201
    assert (
        client.post(
            "/api/v1/targets", json={"name": "vk", "kind": "vk", "token": VK_TOKEN, "chat_id": "1"}, headers=admin
        ).status_code
        == 201
    )  # VK's own base URL
    app.config["TARGETS_ALLOW_PRIVATE"] = True
    local = {"name": "local", "kind": "webhook", "url": "http://127.0.0.1:9/hook", "secret": SECRET}
    assert client.post("/api/v1/targets", json=local, headers=admin).status_code == 201


# At send time: the adapters, with the production rule


def test_a_target_stored_inside_is_not_called(httpserver):
    sink = webhook_sink(httpserver)
    hook = Target(name="hook", kind="webhook", url=httpserver.url_for("/hook"), secret=SECRET)
    outcome = adapter_for("webhook").publish(delivery(hook, allow_private=False))
    assert outcome.kind == FAILED_OUTCOME and not outcome.retryable
    assert "not called" in outcome.error and "127.0.0.1" in outcome.error
    assert sink.arrivals == []


@pytest.mark.parametrize("url", ["http://[::1]:9/hook", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/"])
def test_an_address_inside_stored_before_the_rule_is_refused_without_connecting(url):
    hook = Target(name="hook", kind="webhook", url=url, secret=SECRET)
    outcome = adapter_for("webhook").publish(delivery(hook, allow_private=False))
    # "not called": refused before any connection (the tests' own guard would refuse 169.254… too,
    # but with an OSError, which reads "could not connect").
    assert outcome.kind == FAILED_OUTCOME and not outcome.retryable and outcome.error.startswith("not called")


def test_a_name_that_later_resolves_inside_is_refused_when_sending(httpserver, dns):
    sink = webhook_sink(httpserver)
    dns[NAME] = [OUTSIDE]
    hook = Target(name="hook", kind="webhook", url=f"http://{NAME}:{httpserver.port}/hook", secret=SECRET)
    assert addresses.refusal(hook.url) is None  # what the admin's check saw
    dns[NAME] = ["127.0.0.1"]  # the name's owner points it inside afterwards
    outcome = adapter_for("webhook").publish(delivery(hook, allow_private=False))
    assert outcome.kind == FAILED_OUTCOME and not outcome.retryable and "resolves inside the network" in outcome.error
    assert sink.arrivals == []


def test_a_name_with_one_address_inside_among_others_is_refused(httpserver, dns):
    sink = webhook_sink(httpserver)
    dns[NAME] = [OUTSIDE, "10.0.0.3"]
    hook = Target(name="hook", kind="webhook", url=f"http://{NAME}:{httpserver.port}/hook", secret=SECRET)
    outcome = adapter_for("webhook").publish(delivery(hook, allow_private=False))
    assert outcome.kind == FAILED_OUTCOME and "10.0.0.3" in outcome.error
    assert sink.arrivals == []


def test_the_connection_goes_to_the_address_that_was_checked(httpserver, dns, monkeypatch):
    # The name is unknown to real DNS: the call arrives only if the checked address is the one used.
    sink = webhook_sink(httpserver)
    dns[NAME] = ["127.0.0.1"]
    monkeypatch.setattr(addresses, "is_inside", lambda address: False)  # as if 127.0.0.1 were outside
    hook = Target(name="hook", kind="webhook", url=f"http://{NAME}:{httpserver.port}/hook", secret=SECRET)
    outcome = adapter_for("webhook").publish(delivery(hook, allow_private=False))
    assert outcome.kind == PUBLISHED
    assert len(sink.arrivals) == 1 and sink.arrivals[0].headers["host"] == f"{NAME}:{httpserver.port}"


@pytest.mark.parametrize("kind", ["mastodon", "telegram", "vk"])
def test_base_urls_inside_are_not_called_either(httpserver, kind):
    server = {"mastodon": mastodon_server, "telegram": telegram_server, "vk": vk_server}[kind](httpserver)
    target = {
        "mastodon": Target(name="m", kind="mastodon", url=httpserver.url_for("/"), token=MASTODON_TOKEN),
        "telegram": Target(name="t", kind="telegram", url=httpserver.url_for("/"), token=BOT_TOKEN, chat_id="@tv"),
        "vk": Target(name="v", kind="vk", url=httpserver.url_for("/method"), token=VK_TOKEN, chat_id=VK_COMMUNITY),
    }[kind]
    outcome = adapter_for(kind).publish(delivery(target, allow_private=False))
    assert outcome.kind == FAILED_OUTCOME and "inside the network" in outcome.error
    assert server.arrivals == []


def test_a_redirect_is_never_followed(httpserver):
    sink = webhook_sink(httpserver, path="/inside")
    httpserver.expect_request("/hook", method="POST").respond_with_data(
        "", status=307, headers={"Location": httpserver.url_for("/inside")}
    )
    hook = Target(name="hook", kind="webhook", url=httpserver.url_for("/hook"), secret=SECRET)
    outcome = adapter_for("webhook").publish(delivery(hook))  # loopback allowed, as in the tests
    assert outcome.kind == FAILED_OUTCOME and "307" in outcome.error
    assert sink.arrivals == []


# Through the outbox, on both engines


def test_a_post_to_a_target_that_resolves_inside_fails_for_good_and_shows_in_healthz(
    session, client, httpserver, production_rules, dns, make_channel, make_slot, make_target, make_post, publish
):
    sink = webhook_sink(httpserver)
    dns[NAME] = ["127.0.0.1"]
    channel = make_channel("mir", timezone="Europe/Moscow", promo_plan=[])
    slot = make_slot(START, channel=channel, duration_minutes=60)
    hook = make_target("hook", "webhook", url=f"http://{NAME}:{httpserver.port}/hook")
    post = make_post(slot, hook, due_at=NOON)
    with clock.frozen(NOON):
        publish()
        post = session.get(Post, post.id)
        assert post.status == FAILED and post.retry_at is None and "inside the network" in post.last_error
        assert client.get("/healthz").json["targets"]["failing"] == {"hook": 1}
    assert sink.arrivals == []
