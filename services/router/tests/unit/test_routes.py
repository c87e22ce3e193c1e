from berth_router.domain.routes import (
    DRAIN, MAINT, MAINTENANCE_BACKEND, NO_APP_BACKEND, READY, LiveServer, Server, app_of_backend, backend_for_host,
    build_routes, host_map, missing_backends, plan_map, plan_servers, server_name,
)


def routes():
    return build_routes(
        ["web", "api"],
        [("web", "web.1", "10.0.0.2", 5000), ("web", "web.2", "10.0.0.3", 5000),
         ("gone", "gone.1", "10.0.0.9", 5000)],
        "berth.example",
    )


def test_each_app_is_routed_on_its_host_and_endpoints_of_unknown_apps_are_ignored():
    rs = routes()
    assert [r.app for r in rs] == ["api", "web"]
    assert host_map(rs) == {"api.berth.example": "app_api", "web.berth.example": "app_web"}
    web = rs[1]
    assert [s.address for s in web.servers] == ["10.0.0.2:5000", "10.0.0.3:5000"]
    assert rs[0].servers == ()


def test_an_app_in_maintenance_has_its_hosts_on_the_maintenance_backend_and_keeps_its_servers():
    rs = build_routes(["web", "api"], [("web", "web.1", "10.0.0.2", 5000)], "berth.example",
                      [("web", "www.example.com")], maintenance={"web"})
    assert host_map(rs) == {"api.berth.example": "app_api", "web.berth.example": MAINTENANCE_BACKEND,
                            "www.example.com": MAINTENANCE_BACKEND}
    assert [s.address for s in rs[1].servers] == ["10.0.0.2:5000"]


def test_host_header_is_lowercased_and_its_port_stripped():
    rs = routes()
    assert backend_for_host(rs, "WEB.Berth.Example:8080") == "app_web"
    assert backend_for_host(rs, "web.berth.example") == "app_web"
    assert backend_for_host(rs, "other.berth.example") == NO_APP_BACKEND
    assert backend_for_host(rs, "web.berth.example.evil.com") == NO_APP_BACKEND


def test_backend_names_map_back_to_apps_and_router_backends_to_none():
    assert app_of_backend("app_web") == "web"
    assert app_of_backend(NO_APP_BACKEND) is None
    assert app_of_backend("app_") is None


def test_valid_instance_ids_are_kept_as_server_names():
    assert server_name("web.1") == "web.1"
    assert server_name("web-3f2a_b") == "web-3f2a_b"


def test_invalid_instance_ids_are_sanitized_deterministically_and_without_collisions():
    a, b = server_name("web/1"), server_name("web:1")
    assert a == server_name("web/1")
    assert a != b
    for name in (a, b, server_name("x" * 200), server_name("é ü")):
        assert all(c.isascii() and (c.isalnum() or c in "_.-") for c in name), name
        assert 0 < len(name) <= 64
    assert server_name("") != ""


def live(name, address, state=READY, backend="app_web"):
    return LiveServer(backend, name, address, state)


def test_server_plan_adds_new_removes_old_and_revives_drained():
    desired = (Server("web.1", "10.0.0.2", 5000), Server("web.2", "10.0.0.3", 5000),
               Server("web.3", "10.0.0.4", 5000), Server("web.4", "10.0.0.5", 5000))
    plan = plan_servers(desired, [
        live("web.1", "10.0.0.2:5000"),
        live("web.2", "10.0.0.3:5000", DRAIN),
        live("web.4", "10.0.0.99:5000", MAINT),
        live("web.0", "10.0.0.1:5000"),
    ])
    assert [s.name for s in plan.add] == ["web.3"]
    assert [s.name for s in plan.make_ready] == ["web.2", "web.4"]
    assert [s.name for s in plan.readdress] == ["web.4"]
    assert plan.remove == ["web.0"]


def test_server_plan_is_empty_when_haproxy_runs_what_the_tables_say():
    desired = (Server("web.1", "10.0.0.2", 5000),)
    assert not plan_servers(desired, [live("web.1", "10.0.0.2:5000")])


def test_map_plan_and_missing_backends():
    desired = {"a.x": "app_a", "b.x": "app_b"}
    plan = plan_map(desired, {"a.x": "app_a", "b.x": "app_old", "c.x": "app_c"})
    assert plan.set == {"b.x": "app_b"}
    assert plan.delete == ["c.x"]
    assert missing_backends(routes(), {"app_web", NO_APP_BACKEND}) == ["app_api"]


def test_custom_domains_route_to_their_app_and_only_for_live_apps():
    from berth_router.domain.routes import build_routes, host_map

    routes = build_routes(["shop"], [], "localhost", [("shop", "www.shop.test"), ("gone", "old.example.com")])
    assert host_map(routes) == {"shop.localhost": "app_shop", "www.shop.test": "app_shop"}
