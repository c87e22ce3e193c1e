"""Sealing and purpose-bound tokens with the platform's secret key."""
import time

import pytest

from berth_common import secrets


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("BERTH_SECRET_KEY", secrets.generate_key())
    monkeypatch.delenv("BERTH_SECRET_KEY_FILE", raising=False)
    secrets._fernet.cache_clear()
    secrets._fernet_for.cache_clear()
    yield
    secrets._fernet.cache_clear()
    secrets._fernet_for.cache_clear()


def test_sealed_values_round_trip():
    assert secrets.unseal_config(secrets.seal_config({"A": "1"})) == {"A": "1"}


def test_a_token_is_good_for_its_purpose_only_and_until_it_expires():
    token = secrets.sign_for("log-session", '{"app": "shop"}')
    assert secrets.verify_for("log-session", token, 300) == '{"app": "shop"}'
    with pytest.raises(ValueError, match="invalid or expired"):
        secrets.verify_for("something-else", token, 300)
    with pytest.raises(ValueError, match="invalid or expired"):
        secrets.verify_for("log-session", token, 300, now=time.time() + 301)
    with pytest.raises(ValueError, match="invalid or expired"):
        secrets.verify_for("log-session", token[:-4] + "AAAA", 300)


def test_a_sealed_config_is_not_a_token():
    sealed = secrets.seal_config({"app": "other"})
    with pytest.raises(ValueError):
        secrets.verify_for("log-session", sealed, 300)
