from berth_router.domain.access_log import parse_access_line
from berth_router.domain.first_requests import FirstRequests

TP = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"


def line(server: str) -> object:
    return parse_access_line(f'10.0.0.1 app_shop {server} 200 12 5 ---- GET "/" "shop.localhost" rid-1')


def test_only_the_first_request_to_an_expected_server_is_a_span():
    fr = FirstRequests()
    fr.expect("shop", "web.1.abc123", TP)
    assert not fr.observe(line("web.2.other"))
    assert fr.observe(line("web.1.abc123"))
    assert not fr.observe(line("web.1.abc123"))


def test_expectations_expire():
    fr = FirstRequests(ttl_s=-1)
    fr.expect("shop", "web.1.abc123", TP)
    assert not fr.observe(line("web.1.abc123"))
