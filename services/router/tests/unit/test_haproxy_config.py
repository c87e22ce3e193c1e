from pathlib import Path

from berth_router.domain.haproxy_config import DataPlaneLayout, render_config, render_map
from berth_router.domain.routes import build_routes

LAYOUT = DataPlaneLayout(bind="0.0.0.0", http_port=8080, admin_socket=Path("/d/admin.sock"),
                         map_file=Path("/d/hosts.map"), log_address="127.0.0.1:5514")


def routes():
    return build_routes(["web", "empty"], [("web", "web.1", "10.0.0.2", 5000), ("web", "we/b", "10.0.0.3", 5001)],
                        "berth.example")


def test_map_file_lists_each_host_with_its_backend():
    assert render_map(routes()) == "empty.berth.example app_empty\nweb.berth.example app_web\n"


def test_config_routes_by_host_through_the_map_and_answers_404_for_unknown_hosts():
    cfg = render_config(routes(), LAYOUT)
    assert "bind 0.0.0.0:8080" in cfg
    assert "http-request set-var(txn.host) req.hdr(host),field(1,:),lower" in cfg
    assert "use_backend %[var(txn.host),map(/d/hosts.map,berth_no_app)]" in cfg
    assert 'http-request return status 404 content-type text/plain string "No app is deployed at this host\\n"' in cfg
    assert "stats socket /d/admin.sock mode 600 level admin expose-fd listeners" in cfg
    assert "log 127.0.0.1:5514 len 8192 format raw local0 info" in cfg


def test_config_has_one_round_robin_backend_per_app_with_its_servers():
    cfg = render_config(routes(), LAYOUT)
    web = cfg[cfg.index("backend app_web"):]
    for line in ("balance roundrobin", "option redispatch", "retries 3", "retry-on conn-failure",
                 "if { nbsrv() eq 0 }", "server web.1 10.0.0.2:5000"):
        assert line in web
    assert "server we_b-" in web and "10.0.0.3:5001" in web
    empty = cfg[cfg.index("backend app_empty"):cfg.index("backend app_web")]
    assert "status 503" in empty and " server " not in empty


def test_forwarding_headers_and_timeouts():
    cfg = render_config(routes(), LAYOUT)
    for line in ("option forwardfor", "http-request set-header X-Forwarded-Proto http",
                 "http-request set-header X-Forwarded-Host %[req.hdr(host)]",
                 "http-request set-header X-Request-Id %[unique-id]", "unique-id-format %[uuid()]",
                 "timeout connect 5s", "timeout client 60s", "timeout server 60s", "timeout http-request 10s"):
        assert line in cfg


def test_generated_config_is_valid_for_haproxy(tmp_path):
    import subprocess

    from berth_router.config import default_haproxy_binary

    layout = DataPlaneLayout(bind="127.0.0.1", http_port=8080, admin_socket=tmp_path / "admin.sock",
                             map_file=tmp_path / "hosts.map", log_address="127.0.0.1:5514")
    (tmp_path / "hosts.map").write_text(render_map(routes()))
    (tmp_path / "haproxy.cfg").write_text(render_config(routes(), layout))
    out = subprocess.run([default_haproxy_binary(), "-c", "-f", str(tmp_path / "haproxy.cfg")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
