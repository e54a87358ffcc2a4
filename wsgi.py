"""The WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi …``."""

from schedule_service import create_app

app = create_app()
