"""A staff member in a browser, for the page tests: logs in, reads CSRF tokens, submits forms."""

import re

import pytest

PASSWORD = "correct horse"
_CSRF = re.compile(r'name="(?:[\w-]+-)?csrf_token"[^>]*value="([^"]+)"')


def csrf_from(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


class StaffActions:
    """Drive the staff pages through a Flask test client, as Flask's tutorial's AuthActions does."""

    def __init__(self, client):
        self.client = client

    def login(self, email: str, password: str = PASSWORD, **kwargs):
        token = csrf_from(self.client.get("/staff/login").text)
        return self.client.post(
            "/staff/login", data={"email": email, "password": password, "csrf_token": token}, **kwargs
        )

    def token(self) -> str:
        """A CSRF token valid for this client's session (logged in or not)."""
        page = self.client.get("/staff/login")
        if page.status_code == 302:  # logged in already: any staff page has the logout form's token
            page = self.client.get("/staff/tokens")
        return csrf_from(page.text)

    def get(self, path: str, **kwargs):
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict | None = None, **kwargs):
        """Submit a form with this session's CSRF token, as the browser would."""
        data = dict(data or {})
        data.setdefault("csrf_token", self.token())
        return self.client.post(path, data=data, **kwargs)

    def logout(self):
        return self.post("/staff/logout")


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch):
    """Argon2 at its cheapest: staff tests log in often, and the real cost is half a second a try."""
    from argon2 import PasswordHasher, profiles

    from schedule_service import auth

    monkeypatch.setattr(auth, "hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))
