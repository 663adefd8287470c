"""SALVE: Sistema de Alerta de Violencia en Educación."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from salve import alerts, auth, cli, i18n, jobs, logs, models, scoring, web  # noqa: F401 - models: the whole schema
from salve.catalog.queries import cached_catalog
from salve.config import load_config
from salve.db import configure_sqlite, is_sqlite
from salve.extensions import csrf, migrate
from salve.extensions import db as database


def create_app(config: dict | None = None) -> Flask:
    """Build the SALVE application: configuration, extensions, blueprints, commands."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder="../templates",
        static_folder="static",
    )
    load_config(app, config)
    if app.config["PROXY_COUNT"]:  # the client's address, not the balancer's (rate limits, audit)
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=int(app.config["PROXY_COUNT"]))

    database.init_app(app)
    with app.app_context():
        if is_sqlite(database.engine):
            configure_sqlite(database.engine)
    migrate.init_app(
        app,
        database,
        directory=str(app.root_path + "/../migrations"),
        render_as_batch=True,
        compare_type=True,
    )
    csrf.init_app(app)
    i18n.init_app(app)
    auth.init_app(app)
    web.init_app(app)
    logs.init_app(app)
    scoring.init_app(app)
    alerts.init_app(app)

    from salve.admin.views import bp as admin_bp
    from salve.alerts.views import bp as alerts_bp
    from salve.api.views import bp as api_bp
    from salve.auth.views import bp as auth_bp
    from salve.breakglass.views import bp as breakglass_bp
    from salve.cases.views import bp as cases_bp
    from salve.incidents.views import bp as incidents_bp
    from salve.main.views import bp as main_bp
    from salve.notifications.views import bp as notifications_bp
    from salve.opendata.views import bp as opendata_bp
    from salve.reports.views import bp as reports_bp
    from salve.schools.views import bp as schools_bp
    from salve.scoring.views import bp as risk_bp

    for blueprint in (
        main_bp,
        auth_bp,
        schools_bp,
        incidents_bp,
        risk_bp,
        alerts_bp,
        cases_bp,
        admin_bp,
        api_bp,
        notifications_bp,
        reports_bp,
        opendata_bp,
        breakglass_bp,
    ):
        app.register_blueprint(blueprint)
    csrf.exempt(api_bp)  # the API takes bearer tokens only, never the session cookie

    cli.init_app(app)
    # A broken catalog stops the app at start, naming file, entry and field, not at a report.
    cached_catalog(Path(app.config["CATALOG_DIR"]))
    jobs.init_app(app)  # last: it may start the scheduler of the development server
    return app
