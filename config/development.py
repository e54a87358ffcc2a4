"""Development: the embedded SQLite database, debug pages off the public internet."""

from config.default import *  # noqa: F403
