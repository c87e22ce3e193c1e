"""A small synchronous HTTP client of the Berth API (the CLI does one thing at a time)."""
from __future__ import annotations

import json
import time
from typing import Iterator

import requests


class ApiError(Exception):
    def __init__(self, status: int, id: str, message: str):
        super().__init__(message)
        self.status, self.id, self.message = status, id, message


TRANSIENT_STATUSES = (0, 502, 503, 504)  # 0: no connection


def is_transient(e: Exception) -> bool:
    """An error that asking again later may cure: the API restarting, a dropped stream."""
    if isinstance(e, ApiError):
        return e.status in TRANSIENT_STATUSES
    return isinstance(e, requests.RequestException)


class Client:
    def __init__(self, url: str, token: str | None):
        self.url = url.rstrip("/")
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def _check(self, r: requests.Response) -> requests.Response:
        if r.status_code >= 400:
            try:
                body = r.json()
                raise ApiError(r.status_code, body.get("id", "error"), body.get("message", r.text))
            except (ValueError, json.JSONDecodeError):
                raise ApiError(r.status_code, "error", r.text.strip() or r.reason)
        return r

    def request(self, method: str, path: str, **kw) -> requests.Response:
        try:
            return self._check(self.session.request(method, self.url + path, timeout=kw.pop("timeout", 60), **kw))
        except requests.ConnectionError:
            raise ApiError(0, "unreachable", f"cannot reach the Berth API at {self.url} (is `berth up` running?)")

    def get(self, path: str, retry_for: float = 0, **kw):
        """GET a JSON body. With `retry_for`, an API that is briefly away (restarting: no
        connection, 502/503/504 from a proxy in front of it) is asked again for that long."""
        deadline = time.monotonic() + retry_for
        while True:
            try:
                return self.request("GET", path, **kw).json()
            except ApiError as e:
                if not is_transient(e) or time.monotonic() >= deadline:
                    raise
            time.sleep(1)

    def post(self, path: str, **kw):
        return self.request("POST", path, **kw).json()

    def delete(self, path: str, **kw):
        return self.request("DELETE", path, **kw).json()

    def stream_lines(self, path: str, **params) -> Iterator[str]:
        r = self.request("GET", path, params=params, stream=True, timeout=(10, None))
        for line in r.iter_lines(decode_unicode=True):
            yield line
