"""A small synchronous HTTP client of the Berth API (the CLI does one thing at a time)."""
from __future__ import annotations

import json
from typing import Iterator

import requests


class ApiError(Exception):
    def __init__(self, status: int, id: str, message: str):
        super().__init__(message)
        self.status, self.id, self.message = status, id, message


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

    def get(self, path: str, **kw):
        return self.request("GET", path, **kw).json()

    def post(self, path: str, **kw):
        return self.request("POST", path, **kw).json()

    def delete(self, path: str, **kw):
        return self.request("DELETE", path, **kw).json()

    def stream_lines(self, path: str, **params) -> Iterator[str]:
        r = self.request("GET", path, params=params, stream=True, timeout=(10, None))
        for line in r.iter_lines(decode_unicode=True):
            yield line
