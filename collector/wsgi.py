"""The collector's WSGI entry point for gunicorn: ``gunicorn -c collector/gunicorn_conf.py collector.wsgi:app``."""

from collector.app import create_app
from lookout.logsetup import configure
from lookout.settings import Settings

settings = Settings.from_env()
configure(settings.log_level, settings.log_json)
app = create_app(settings)
