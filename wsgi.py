"""The WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi …``."""

import gc

from schedule_service import create_app

app = create_app()

# What start-up made lives as long as the process: out of the cyclic collector's full passes,
# which would otherwise walk it every few dozen requests (~100 ms pauses on a busy read path).
gc.collect()
gc.freeze()
