"""The dashboards' WSGI entry point for the scaled mode (a ClickHouse server, not chDB):
``gunicorn -c dashboards/gunicorn_conf.py dashboards.wsgi:app``. In single-node mode the node serves the
same app with waitress (app/node.py)."""

from dashboards.app import create_app
from lookout.logsetup import configure
from lookout.settings import Settings

settings = Settings.from_env()
configure(settings.log_level, settings.log_json)
app = create_app(settings)
