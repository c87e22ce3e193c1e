"""Stack detection and the Dockerfiles generated for detected stacks. Pure: it sees the
names of the files at the top of the source tree and the Procfile's text, nothing else."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from .builds import BuildError
from .procfile import parse_procfile

DOCKERFILE = "dockerfile"
PYTHON = "python"
STATIC = "static"

# Inside the build context: where the CA bundle for build-time downloads is placed, and
# where generated Dockerfiles install it in the image being built.
CA_IN_CONTEXT = "berth-ca.crt"
CA_IN_IMAGE = "/etc/ssl/certs/berth-build-ca.crt"
CA_BUILD_ARG = "BERTH_CA_BUNDLE"

STATIC_WEB = "busybox httpd -f -v -p $PORT -h /app"


@dataclass(frozen=True)
class BaseImages:
    python: str = "berth/python:bookworm"
    static: str = "berth/static:bookworm"


@dataclass(frozen=True)
class BuildPlan:
    stack: str
    reason: str  # what the detection saw, for the build output
    process_types: dict[str, str | None]
    dockerfile: str | None  # None: the source's own Dockerfile is built as is
    build_args: dict[str, str] = field(default_factory=dict)


def detect_stack(files: set[str]) -> tuple[str, str]:
    """(stack, the file that decided it) from the top-level file names of the source."""
    if "Dockerfile" in files:
        return DOCKERFILE, "Dockerfile"
    for marker in ("requirements.txt", "pyproject.toml"):
        if marker in files:
            return PYTHON, marker
    if "index.html" in files:
        return STATIC, "index.html"
    raise BuildError(
        "could not detect the app's stack: add a Dockerfile, requirements.txt, pyproject.toml or index.html"
    )


def plan_build(files: set[str], procfile: str | None, images: BaseImages, with_ca: bool) -> BuildPlan:
    """Decide how to build a source tree. `procfile` is the Procfile's text, if any;
    `with_ca` says a CA bundle will be placed in the context as CA_IN_CONTEXT."""
    stack, marker = detect_stack(files)
    declared: dict[str, str | None] = dict(parse_procfile(procfile)) if procfile is not None else {}
    if stack == DOCKERFILE:
        # Without a `web:` entry the image's own CMD is the web process (Heroku's rule).
        return BuildPlan(
            stack, "Dockerfile found: building it as is", {"web": None, **declared}, None,
            {CA_BUILD_ARG: CA_IN_CONTEXT} if with_ca else {},
        )
    if stack == PYTHON:
        if not declared:
            raise BuildError(
                "Python app without process types: add a Procfile with a `web:` entry, "
                "e.g. `web: python app.py`"
            )
        return BuildPlan(stack, f"Detected python app ({marker})", declared,
                         python_dockerfile(images.python, "requirements.txt" in files, declared.get("web"), with_ca))
    return BuildPlan(stack, "Detected static site (index.html)", {"web": STATIC_WEB, **declared},
                     static_dockerfile(images.static))


def _ca_lines(with_ca: bool) -> tuple[list[str], str]:
    """The COPY that installs the bundle and the env prefix for RUN lines that download.
    The env is set on the RUN line only, so the bundle is not the app's CA at run time."""
    if not with_ca:
        return [], ""
    return (
        [f"COPY {CA_IN_CONTEXT} {CA_IN_IMAGE}"],
        f"PIP_CERT={CA_IN_IMAGE} SSL_CERT_FILE={CA_IN_IMAGE} REQUESTS_CA_BUNDLE={CA_IN_IMAGE} ",
    )


def _cmd(command: str | None) -> list[str]:
    # Exec form through sh so $PORT and other variables expand when the container starts.
    if command is None:
        return []
    return [f"CMD {json.dumps(['/bin/sh', '-c', command])}"]


def python_dockerfile(base: str, has_requirements: bool, web: str | None, with_ca: bool) -> str:
    copy_ca, env = _ca_lines(with_ca)
    lines = [
        f"FROM {base}",
        "WORKDIR /app",
        "ENV VIRTUAL_ENV=/app/.venv PATH=/app/.venv/bin:$PATH "
        "PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1",
        *copy_ca,
        "RUN python3 -m venv /app/.venv",
    ]
    if has_requirements:
        # Dependencies first: while requirements.txt is unchanged, these layers come from
        # the cache and only the final COPY of the source is rebuilt.
        lines += [
            "COPY requirements.txt /app/requirements.txt",
            f"RUN {env}pip install --no-cache-dir -r /app/requirements.txt",
            "COPY . /app",
        ]
    else:
        # pyproject.toml: the project itself must be present to be installed.
        lines += ["COPY . /app", f"RUN {env}pip install --no-cache-dir /app"]
    lines += _cmd(web)
    return "\n".join(lines) + "\n"


def static_dockerfile(base: str) -> str:
    return "\n".join([
        f"FROM {base}",
        "WORKDIR /app",
        "COPY . /app",
        "ENV PORT=5000",
        *_cmd(f"exec {STATIC_WEB}"),
    ]) + "\n"
