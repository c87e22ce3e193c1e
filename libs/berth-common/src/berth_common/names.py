"""App names: the one place that decides what an app name may be.

An app name becomes a DNS label (`<app>.<base domain>`), a Docker network and image name,
a NATS subject token and a Postgres value, so it is validated here and nowhere else.
"""
import re

MAX_LENGTH = 30
_APP_NAME = re.compile(r"[a-z](?:[a-z0-9-]*[a-z0-9])?")  # used with fullmatch


class InvalidAppName(ValueError):
    pass


def validate_app_name(name: object) -> str:
    """Return the name if it is a valid app name, else raise InvalidAppName saying why."""
    if not isinstance(name, str) or not name:
        raise InvalidAppName("app name is required")
    if len(name) > MAX_LENGTH:
        raise InvalidAppName(f"app name {name!r} is longer than {MAX_LENGTH} characters")
    if not _APP_NAME.fullmatch(name):
        raise InvalidAppName(
            f"app name {name!r} is invalid: use lowercase letters, digits and dashes, "
            "starting with a letter and not ending with a dash"
        )
    if "--" in name:
        raise InvalidAppName(f"app name {name!r} is invalid: it may not contain '--'")
    return name


class InvalidHostname(ValueError):
    pass


_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def validate_hostname(name: object, base_domain: str | None = None) -> str:
    """A custom domain for an app: a lowercase DNS name of two or more labels, not under the
    platform's base domain (those names are the apps' own)."""
    if not isinstance(name, str) or not name:
        raise InvalidHostname("hostname is required")
    host = name.rstrip(".")
    if host != host.lower():
        raise InvalidHostname(f"hostname {name!r} must be lowercase")
    if len(host) > 253 or "." not in host or not all(_LABEL.fullmatch(label) for label in host.split(".")):
        raise InvalidHostname(f"hostname {name!r} is not a valid DNS name (e.g. www.example.com)")
    if base_domain and (host == base_domain or host.endswith("." + base_domain)):
        raise InvalidHostname(f"hostname {name!r} is under the platform's base domain {base_domain}: "
                              "those names belong to the apps")
    return host


class InvalidDyno(ValueError):
    pass


# A process type (`web`), one instance slot (`web.1`) or one instance (`web.1.a1b2c3`).
_DYNO = re.compile(r"[A-Za-z0-9_-]+(?:\.[0-9]+(?:\.[a-z0-9]+)?)?")


def validate_dyno(value: object) -> str:
    """A filter for log lines by process, as Heroku's `logs --dyno`: a process type, a
    slot such as `web.1`, or a full instance name."""
    if not isinstance(value, str) or not _DYNO.fullmatch(value):
        raise InvalidDyno(f"dyno {value!r} is invalid: give a process type (web), a slot (web.1) "
                          "or an instance (web.1.a1b2c3)")
    return value


def dyno_matches(dyno: str, process: str | None, instance: str | None) -> bool:
    """Whether a line of `process`/`instance` is one the filter asks for (the logger's SQL
    says the same: process = dyno, instance = dyno, or instance starts with dyno + ".")."""
    return process == dyno or instance == dyno or (instance or "").startswith(dyno + ".")
