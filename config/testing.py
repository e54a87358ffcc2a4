"""Testing: the database comes from the test fixture; CSRF on as in production."""

import os

from config.default import *  # noqa: F403

TESTING = True
SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL", "sqlite://")
SECRET_KEY = "testing-secret"
#: The fake targets of the tests listen on loopback.
TARGETS_ALLOW_PRIVATE = True
