from aiohttp import web

from . import access_views as av
from . import domain_views as dv
from . import lifecycle_views as lv
from . import views
from . import webhook_views as wv
from .git import add_git_routes
from .openapi import openapi


def setup_routes(app: web.Application) -> None:
    r = app.router
    add_git_routes(r)  # /apps/{app}.git/...: `git push` (http/git.py)
    r.add_get("/openapi.json", openapi)
    r.add_get("/account", views.account)
    r.add_get("/users", av.list_users)
    r.add_post("/users", av.add_user)
    r.add_delete("/users/{email}", av.remove_user)
    r.add_get("/apps/{app}/collaborators", av.list_collaborators)
    r.add_post("/apps/{app}/collaborators", av.add_collaborator)
    r.add_delete("/apps/{app}/collaborators/{email}", av.remove_collaborator)
    r.add_post("/apps", views.create_app)
    r.add_get("/apps", views.list_apps)
    r.add_get("/apps/{app}", views.get_app)
    r.add_patch("/apps/{app}", views.update_app)
    r.add_delete("/apps/{app}", views.delete_app)
    r.add_post("/apps/{app}/builds", views.create_build)
    r.add_get("/apps/{app}/builds", views.list_builds)
    r.add_get("/apps/{app}/builds/{build}", views.get_build)
    r.add_get("/apps/{app}/builds/{build}/output", views.build_output)
    r.add_get("/apps/{app}/releases", views.list_releases)
    r.add_get("/apps/{app}/releases/{version}", views.get_release)
    r.add_get("/apps/{app}/logs", views.get_logs)
    r.add_post("/apps/{app}/log-sessions", views.create_log_session)
    r.add_get("/apps/{app}/log-drains", views.list_log_drains)
    r.add_post("/apps/{app}/log-drains", views.add_log_drain)
    r.add_delete("/apps/{app}/log-drains/{drain}", views.remove_log_drain)
    r.add_get("/log-sessions/{session}", views.read_log_session)
    r.add_get("/apps/{app}/domains", dv.list_domains)
    r.add_post("/apps/{app}/domains", dv.add_domain)
    r.add_delete("/apps/{app}/domains/{hostname}", dv.remove_domain)
    r.add_get("/apps/{app}/config-vars", lv.get_config_vars)
    r.add_patch("/apps/{app}/config-vars", lv.patch_config_vars)
    r.add_post("/apps/{app}/releases", lv.create_rollback)
    r.add_get("/apps/{app}/formation", lv.get_formation)
    r.add_patch("/apps/{app}/formation", lv.patch_formation)
    r.add_get("/apps/{app}/dynos", lv.list_dynos)
    r.add_post("/apps/{app}/dynos", lv.run_dyno)
    r.add_get("/apps/{app}/dynos/attach", lv.attach_dyno)
    r.add_post("/apps/{app}/dynos/restart", lv.restart_dynos)
    r.add_post("/apps/{app}/dynos/{dyno}/actions/stop", lv.stop_dyno)
    r.add_get("/apps/{app}/webhooks", wv.list_webhooks)
    r.add_post("/apps/{app}/webhooks", wv.create_webhook)
    r.add_get("/apps/{app}/webhooks/{webhook}", wv.get_webhook)
    r.add_delete("/apps/{app}/webhooks/{webhook}", wv.delete_webhook)
    r.add_post("/apps/{app}/webhooks/{webhook}/rotate-secret", wv.rotate_secret)
    r.add_get("/apps/{app}/webhook-deliveries", wv.list_deliveries)
    r.add_post("/apps/{app}/webhook-deliveries/{delivery}/retry", wv.retry_delivery)
    r.add_get("/events", wv.event_stream)
    r.add_get("/events/catalogue", wv.event_catalogue)
    r.add_get("/events/schemas/{type}.json", wv.event_schema)
