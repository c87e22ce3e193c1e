from datetime import datetime, timedelta, timezone

import pytest

from berth_logger.domain.retention import Retention

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def test_lines_older_than_max_age_are_expired():
    r = Retention(max_lines_per_app=100, max_age_hours=24)
    assert r.oldest_kept(NOW) == NOW - timedelta(hours=24)
    assert r.is_expired(NOW - timedelta(hours=24, seconds=1), NOW)
    assert not r.is_expired(NOW - timedelta(hours=23, minutes=59), NOW)


def test_excess_is_what_exceeds_the_per_app_maximum():
    r = Retention(max_lines_per_app=3, max_age_hours=1)
    assert r.excess(0) == 0
    assert r.excess(3) == 0
    assert r.excess(10) == 7


def test_defaults_keep_ten_thousand_lines_for_a_week():
    r = Retention()
    assert (r.max_lines_per_app, r.max_age_hours) == (10_000, 168)


@pytest.mark.parametrize("kw", [{"max_lines_per_app": 0}, {"max_age_hours": 0}, {"max_age_hours": -1}])
def test_nonsense_limits_are_refused(kw):
    with pytest.raises(ValueError):
        Retention(**kw)


def test_settings_read_retention_from_the_environment(monkeypatch):
    from berth_logger.config import LoggerSettings

    monkeypatch.setenv("BERTH_DATABASE_URL", "postgresql://x/y")
    monkeypatch.setenv("BERTH_LOG_MAX_LINES_PER_APP", "50")
    monkeypatch.setenv("BERTH_LOG_MAX_AGE_HOURS", "2.5")
    monkeypatch.setenv("BERTH_LOGGER_DOCKER", "0")
    s = LoggerSettings.from_env()
    assert s.retention == Retention(max_lines_per_app=50, max_age_hours=2.5)
    assert s.common.health_port == 5004
    assert s.collect_docker is False
