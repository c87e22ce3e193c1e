"""Bad input gets a clear 4xx (or a failed build with the reason) and writes nothing else."""
from __future__ import annotations

import io
import tarfile

import pytest


def _tgz(files: dict[str, bytes], extra=None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if extra:
            extra(tar)
    return buf.getvalue()


@pytest.fixture(scope="module")
def app(berth):
    assert berth.api("POST", "/apps", json={"name": "badinput"}).status_code == 201
    return "badinput"


@pytest.mark.parametrize("body,status,error_id", [
    ({"name": "Has_Upper"}, 422, "invalid_app_name"),
    ({"name": "-leading"}, 422, "invalid_app_name"),
    ({"name": "a" * 31}, 422, "invalid_app_name"),
    ({"name": ""}, 422, "invalid_app_name"),
    ({"name": 5}, 422, "invalid_app_name"),
    ({}, 422, "invalid_app_name"),
    ({"name": "ok", "extra": 1}, 400, "bad_request"),
    ([], 400, "bad_request"),
])
def test_bad_app_create_bodies(berth, body, status, error_id):
    before = berth.api("GET", "/apps").json()
    r = berth.api("POST", "/apps", json=body)
    assert r.status_code == status, r.text
    assert r.json()["id"] == error_id and r.json()["message"]
    assert berth.api("GET", "/apps").json() == before


def test_not_json_and_no_token(berth):
    r = berth.api("POST", "/apps", data=b"{nope", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["message"]
    import requests
    r = requests.get(berth.platform.api_url + "/apps", timeout=10)
    assert r.status_code == 401 and r.json()["id"] == "unauthorized"
    r = requests.get(berth.platform.api_url + "/apps", headers={"Authorization": "Bearer wrong"}, timeout=10)
    assert r.status_code == 401


def test_bad_uploads_are_refused_before_any_build(berth, app):
    cases = [
        (b"", "application/gzip", 400),
        (b"plain text, not gzip", "application/gzip", 400),
        (_tgz({"index.html": b"hi"}), "text/plain", 415),
    ]
    for data, ctype, status in cases:
        r = berth.api("POST", f"/apps/{app}/builds", data=data, headers={"Content-Type": ctype})
        assert r.status_code == status, r.text
        assert r.json()["message"]
    assert berth.api("GET", f"/apps/{app}/builds").json() == []
    r = berth.api("POST", "/apps/nosuchapp/builds", data=_tgz({"index.html": b"hi"}),
                  headers={"Content-Type": "application/gzip"})
    assert r.status_code == 404 and r.json()["id"] == "app_not_found"


def _build_and_wait(berth, app, data) -> dict:
    r = berth.api("POST", f"/apps/{app}/builds", data=data, headers={"Content-Type": "application/gzip"})
    assert r.status_code == 201, r.text
    build_id = r.json()["id"]
    return berth.wait_for(
        lambda: (b := berth.api("GET", f"/apps/{app}/builds/{build_id}").json())["status"] in ("succeeded", "failed") and b,
        timeout=120, what="the build to finish")


def _symlink_out(tar):
    info = tarfile.TarInfo("evil")
    info.type = tarfile.SYMTYPE
    info.linkname = "../../../etc/passwd"
    tar.addfile(info)


@pytest.mark.parametrize("data,reason", [
    (_tgz({"../escape.txt": b"x", "index.html": b"hi"}), ".."),
    (_tgz({"/etc/cron.d/evil": b"x", "index.html": b"hi"}), "absolute"),
    (_tgz({"index.html": b"hi"}, extra=_symlink_out), "evil"),
    (_tgz({"Procfile": b"web: python app.py\nthis line is bad\n", "requirements.txt": b""}), "Procfile line 2"),
    (_tgz({"README.md": b"nothing to build"}), "could not detect"),
])
def test_bad_archives_fail_the_build_with_a_clear_reason(berth, app, data, reason):
    build = _build_and_wait(berth, app, data)
    assert build["status"] == "failed"
    assert reason in build["reason"]
    # No release is made from a failed build.
    assert berth.api("GET", f"/apps/{app}/releases").json() == []
