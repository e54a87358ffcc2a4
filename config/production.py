"""Production: PostgreSQL and a real secret from the environment."""

import os

from config.default import *  # noqa: F403

SECRET_KEY = os.environ.get("SECRET_KEY")
if not SECRET_KEY:
    raise RuntimeError("SECRET_KEY must be set when SCHEDULE_ENV=production")
SESSION_COOKIE_SECURE = os.environ.get("SESSION_COOKIE_SECURE", "1") == "1"
