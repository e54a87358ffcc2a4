"""Configuration modules, one per `SCHEDULE_ENV`: development (default), testing, production."""

import importlib
import os


def load(env: str | None = None) -> object:
    """Return the config module for ``env`` (else ``SCHEDULE_ENV``, else development)."""
    name = env or os.environ.get("SCHEDULE_ENV", "development")
    if name not in ("development", "testing", "production"):
        raise RuntimeError(f"SCHEDULE_ENV must be development, testing or production, not {name!r}")
    return importlib.import_module(f"config.{name}")
