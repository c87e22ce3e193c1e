from berth_router.domain.access_log import parse_access_line


def test_access_line_is_attributed_to_the_app_of_its_backend():
    line = parse_access_line(
        '127.0.0.1 app_web web.1 200 1234 12 ---- GET "/items?page=2" "web.berth.example" 6f1c-uuid')
    assert line is not None
    assert line.app == "web"
    assert (line.status, line.bytes, line.total_ms, line.method, line.path) == (200, 1234, 12, "GET", "/items?page=2")
    assert line.render() == ("GET /items?page=2 200 12ms 1234B host=web.berth.example client=127.0.0.1 "
                             "server=web.1 request_id=6f1c-uuid term=----")


def test_unknown_host_lines_belong_to_no_app():
    line = parse_access_line('10.1.2.3 berth_no_app <NOSRV> 404 160 0 PR-- GET "/" "nope.example" abc')
    assert line is not None and line.app is None


def test_aborted_requests_and_other_messages():
    line = parse_access_line('10.1.2.3 app_web web.1 -1 0 5 CD-- POST "/upload" "web.x" abc')
    assert line is not None and line.status == -1
    assert parse_access_line("Server app_web/web.1 is going DOWN for maintenance.") is None
    assert parse_access_line('unterminated "quote') is None
    assert parse_access_line("") is None
