"""The WSGI entry point: ``flask --app app …`` and ``gunicorn app:app``."""

from salve import create_app

app = create_app()
