from aiohttp import web

from . import views
from .openapi import openapi


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/openapi.json", openapi)
    r.add_get("/account", views.account)
    r.add_post("/apps", views.create_app)
    r.add_get("/apps", views.list_apps)
    r.add_get("/apps/{app}", views.get_app)
    r.add_delete("/apps/{app}", views.delete_app)
    r.add_post("/apps/{app}/builds", views.create_build)
    r.add_get("/apps/{app}/builds", views.list_builds)
    r.add_get("/apps/{app}/builds/{build}", views.get_build)
    r.add_get("/apps/{app}/builds/{build}/output", views.build_output)
    r.add_get("/apps/{app}/releases", views.list_releases)
    r.add_get("/apps/{app}/releases/{version}", views.get_release)
    r.add_get("/apps/{app}/logs", views.get_logs)
