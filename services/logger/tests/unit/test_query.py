import json

import pytest

from berth_logger.domain.query import MAX_LINES, BadQuery, LogQuery, parse_query


def q(**body) -> bytes:
    return json.dumps(body).encode()


def test_defaults():
    assert parse_query(q(app="shop")) == LogQuery(app="shop", lines=100, source=None, after_id=None)


def test_all_fields():
    assert parse_query(q(app="shop", lines=5, source="build", after_id=7, dyno="web.1")) == \
        LogQuery("shop", 5, "build", 7, "web.1")


def test_lines_are_capped():
    assert parse_query(q(app="shop", lines=10**9)).lines == MAX_LINES


@pytest.mark.parametrize("raw", [
    b"", b"[]", b"nope", q(), q(app="Bad App"), q(app="shop", lines=0), q(app="shop", lines="10"),
    q(app="shop", lines=True), q(app="shop", lines=1.5), q(app="shop", source="kernel"),
    q(app="shop", after_id=-1), q(app="shop", after_id="3"), q(app="shop", dyno="web 1"), q(app="shop", dyno="web.x"),
    q(app="shop", dyno=1),
])
def test_bad_requests(raw):
    with pytest.raises(BadQuery):
        parse_query(raw)
