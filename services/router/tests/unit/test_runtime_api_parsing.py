from berth_router.adapters.runtime_api import parse_map, parse_server_sessions, parse_servers_state

SERVERS_STATE = """1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
4 app_a 1 web.1 10.0.0.2 2 0 1 1 0 1 0 0 0 0 0 0 - 5000 - 0 0 - - 0
4 app_a 2 web.2 10.0.0.3 2 8 1 1 0 1 0 0 0 0 0 0 - 5000 - 0 0 - - 0
4 app_a 3 web.3 10.0.0.4 0 1 1 1 0 1 0 0 0 0 0 0 - 5000 - 0 0 - - 0

"""


def test_servers_state_gives_address_and_ready_drain_maint():
    servers = parse_servers_state(SERVERS_STATE)
    assert [(s.backend, s.name, s.address, s.state) for s in servers] == [
        ("app_a", "web.1", "10.0.0.2:5000", "ready"),
        ("app_a", "web.2", "10.0.0.3:5000", "drain"),
        ("app_a", "web.3", "10.0.0.4:5000", "maint"),
    ]


def test_show_map_and_show_stat_sessions():
    assert parse_map("0xefb8280 a.localhost app_a\n0xf096b40 b.localhost app_b\n\n") == {
        "a.localhost": "app_a", "b.localhost": "app_b"}
    stat = ("# pxname,svname,qcur,qmax,scur,smax\n"
            "app_a,FRONTEND,0,0,9,9\napp_a,web.1,0,0,2,3\napp_a,web.2,0,0,0,1\napp_a,BACKEND,0,0,2,3\n")
    assert parse_server_sessions(stat) == {("app_a", "web.1"): 2, ("app_a", "web.2"): 0}
