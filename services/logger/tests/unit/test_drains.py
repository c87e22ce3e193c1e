from datetime import datetime, timezone

import pytest

from berth_logger.domain.drains import (
    InvalidDrain, dyno_of, frame, frames, parse_drain_url, public_url, syslog_message,
)

T = datetime(2026, 11, 22, 10, 0, 0, 123456, tzinfo=timezone.utc)


@pytest.mark.parametrize("url, scheme, host, port", [
    ("https://logs.example.com/x", "https", "logs.example.com", 443),
    ("http://user:pw@Logs.Example.com:8080/in", "http", "logs.example.com", 8080),
    ("syslog+tls://logs.papertrailapp.com:12345", "syslog+tls", "logs.papertrailapp.com", 12345),
    ("syslog://10.0.0.5", "syslog", "10.0.0.5", 514),
    ("syslog+tls://logs.example.com", "syslog+tls", "logs.example.com", 6514),
])
def test_drain_urls(url, scheme, host, port):
    d = parse_drain_url(url)
    assert (d.scheme, d.host, d.port) == (scheme, host, port)
    assert d.target.host == host and d.target.port == port


@pytest.mark.parametrize("url, message", [
    ("ftp://x.example.com", "must start with https://"),
    ("https://", "has no host"),
    ("https://x.example.com:99999/", "invalid port"),
    ("syslog://x.example.com/path", "only host and port"),
    (42, "a drain URL is a string"),
    ("https://x.example.com/" + "a" * 3000, "a drain URL is a string"),
])
def test_bad_drain_urls(url, message):
    with pytest.raises(InvalidDrain, match=message):
        parse_drain_url(url)


def test_syslog_message_is_rfc5424_with_the_token_as_hostname():
    msg = syslog_message("d.abc", T, "app", "web", "web.1.a1b2c3", "stdout", "GET / 200\nsecond line")
    assert msg == b"<190>1 2026-11-22T10:00:00.123456+00:00 d.abc app web.1 - GET / 200 second line"
    err = syslog_message("d.abc", T, "app", "web", "web.1.a1b2c3", "stderr", "boom")
    assert err.startswith(b"<187>1 ")
    router = syslog_message("d.abc", T, "router", None, None, None, "GET / 200")
    assert b" d.abc router router - GET / 200" in router


def test_frames_count_the_message_and_its_newline():
    assert frame(b"<190>1 x") == b"9 <190>1 x\n"
    body = frames("d.t", [{"time": T, "source": "berth", "process": None, "instance": None, "stream": None,
                           "line": "Release v1 deployed"}])
    length, _, rest = body.partition(b" ")
    assert int(length) == len(rest) and rest.endswith(b"\n")


def test_unicode_lines_are_counted_in_bytes():
    body = frame(syslog_message("d.t", T, "app", "web", "web.1.x", None, "héllo ✓"))
    length, _, rest = body.partition(b" ")
    assert int(length) == len(rest)


def test_public_url_hides_the_password():
    assert public_url("https://user:secret@logs.example.com/x") == "https://user:***@logs.example.com/x"
    assert public_url("https://logs.example.com/x?token=t") == "https://logs.example.com/x?token=t"


def test_dyno_of():
    assert dyno_of("web", "web.12.abc", "app") == "web.12"
    assert dyno_of(None, None, "router") == "router"
