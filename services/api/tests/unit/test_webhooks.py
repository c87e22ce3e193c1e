"""Webhook rules: Standard Webhooks signatures (checked with the reference `standardwebhooks`
package), the SSRF guard, backoff, and what a subscription includes."""
from __future__ import annotations

import base64
import ipaddress
import random
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from berth_api.domain.errors import ApiError
from berth_api.domain.webhooks import (
    backoff_seconds, delivery_headers, external_envelope, includes, new_secret, parse_include, parse_secret, parse_url,
    sign,
)
from berth_common.egress import AllowList, check_addresses, ip_refusal

BODY = '{"specversion":"1.0","type":"berth.release.created.v1","data":{"app":"hello"}}'


def test_secrets_are_standard_webhooks_secrets():
    a, b = new_secret(), new_secret()
    assert a != b and a.startswith("whsec_")
    assert len(base64.b64decode(a[len("whsec_"):])) == 32
    assert parse_secret(a) == a
    for bad in ("secret", "whsec_!!!", "whsec_" + base64.b64encode(b"short").decode(), None, 3):
        with pytest.raises(ApiError):
            parse_secret(bad)


def test_a_delivery_verifies_with_the_reference_library():
    secret = new_secret()
    headers = delivery_headers([secret], "msg_1", int(time.time()), BODY)
    assert Webhook(secret).verify(BODY, headers)["data"] == {"app": "hello"}
    assert headers["webhook-signature"].startswith("v1,")


def test_the_reference_library_rejects_what_it_should():
    secret = new_secret()
    now = int(time.time())
    headers = delivery_headers([secret], "msg_1", now, BODY)
    with pytest.raises(WebhookVerificationError):  # tampered body
        Webhook(secret).verify(BODY.replace("hello", "evil"), headers)
    with pytest.raises(WebhookVerificationError):  # wrong secret
        Webhook(new_secret()).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):  # another id with the same signature
        Webhook(secret).verify(BODY, {**headers, "webhook-id": "msg_2"})
    old = delivery_headers([secret], "msg_1", now - 3600, BODY)  # correctly signed, but an hour old
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(BODY, old)


def test_during_a_rotation_both_secrets_verify():
    old, new = new_secret(), new_secret()
    headers = delivery_headers([new, old], "msg_1", int(time.time()), BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(BODY, headers)
    Webhook(new).verify(BODY, headers)


def test_signature_matches_the_spec_example():
    # The example from the Standard Webhooks specification.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = '{"test": 2432232314}'
    assert sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == \
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_sealed_config_never_leaves_the_platform():
    env = {"type": "berth.release.created.v1", "data": {"app": "a", "config_sealed": "gAAAA..."}}
    out = external_envelope(env)
    assert out["data"]["config_sealed"] == "[redacted]" and env["data"]["config_sealed"] == "gAAAA..."


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap():
    rand = random.Random(1)
    delays = [backoff_seconds(n, 5, 3600, rand) for n in range(1, 15)]
    for n, d in enumerate(delays, start=1):
        ceiling = min(3600, 5 * 2 ** (n - 1))
        assert ceiling / 2 <= d <= ceiling
    assert max(delays) <= 3600 and delays[-1] >= 1800
    assert len({round(backoff_seconds(3, 5, 3600), 6) for _ in range(20)}) > 1  # jittered
    assert backoff_seconds(1000, 5, 3600) <= 3600  # no overflow


def test_retrying_for_24_hours_takes_a_bounded_number_of_tries():
    elapsed, tries = 0.0, 0
    while elapsed < 24 * 3600:
        tries += 1
        elapsed += backoff_seconds(tries, 5, 3600, random.Random(tries))
    assert 20 < tries < 60


def test_include_groups():
    assert parse_include(["release", "build", "dyno", "release"]) == ["release", "build", "process"]
    assert parse_include("release,build") == ["release", "build"]
    with pytest.raises(ApiError, match="unknown event group"):
        parse_include(["releases"])
    with pytest.raises(ApiError):
        parse_include([])
    assert includes(["release"], "berth.release.deployed.v1")
    assert includes(["process"], "berth.process.crashed.v1")
    assert not includes(["release"], "berth.build.completed.v1")
    assert not includes(["app"], "berth.endpoints.changed.v1")


def ip(s):
    return ipaddress.ip_address(s)


@pytest.mark.parametrize("address, reason", [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("10.0.0.1", "private"), ("172.16.5.4", "private"),
    ("192.168.1.1", "private"), ("100.64.0.1", "private"), ("169.254.169.254", "link-local"),
    ("fe80::1", "link-local"), ("fd00::1", "private"), ("224.0.0.1", "multicast"), ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"), ("0.1.2.3", "unspecified"),
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.1.2.3", "private"), ("240.0.0.1", "reserved"),
])
def test_internal_addresses_are_refused(address, reason):
    assert reason in ip_refusal(ip(address), AllowList())


def test_public_addresses_pass_and_the_platforms_own_are_refused():
    assert ip_refusal(ip("93.184.216.34"), AllowList()) is None
    assert ip_refusal(ip("2606:2800:220:1:248:1893:25c8:1946"), AllowList()) is None
    assert "platform" in ip_refusal(ip("93.184.216.34"), AllowList(), frozenset({ip("93.184.216.34")}))


def test_the_allow_list_admits_hosts_and_networks():
    allow = AllowList.parse("127.0.0.1/32, hooks.internal ,10.20.0.0/16")
    assert ip_refusal(ip("127.0.0.1"), allow) is None
    assert ip_refusal(ip("127.0.0.2"), allow) is not None
    assert ip_refusal(ip("10.20.3.4"), allow) is None
    assert ip_refusal(ip("10.21.3.4"), allow) is not None
    assert check_addresses(parse_url("http://hooks.internal/x"), [ip("10.99.0.1")], allow) is None
    assert check_addresses(parse_url("http://other.internal/x"), [ip("10.99.0.1")], allow) is not None


def test_every_address_of_a_host_must_pass():
    target = parse_url("https://example.com/hook")
    assert check_addresses(target, [ip("93.184.216.34")], AllowList()) is None
    reason = check_addresses(target, [ip("93.184.216.34"), ip("10.0.0.1")], AllowList())
    assert "example.com (10.0.0.1) is a private address" in reason
    assert "does not resolve" in check_addresses(target, [], AllowList())


def test_urls():
    t = parse_url("http://169.254.169.254/latest/meta-data")
    assert t.literal_ip == ip("169.254.169.254") and t.port == 80
    assert parse_url("https://Example.COM./x").host == "example.com"
    assert parse_url("http://[::1]:8080/").literal_ip == ip("::1")
    for bad in ("ftp://example.com", "example.com/hook", "http:///x", "http://x:99999/", 5):
        with pytest.raises(ApiError):
            parse_url(bad)
