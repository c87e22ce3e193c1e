"""Stack detection and the Dockerfiles generated for detected stacks. Pure: it sees the
names of the files and directories at the top of the source tree and the text of a few
manifests (Procfile, package.json, pyproject.toml, go.mod, app.json), nothing else.

Detection order (the first match wins): Dockerfile, then Python (uv.lock with
pyproject.toml, requirements.txt, or pyproject.toml installed with pip), Node.js (package.json), Go (go.mod), static (index.html).

Every generated Dockerfile puts the dependency manifests and the dependency install in
layers before the rest of the source is copied, so a change to the code only rebuilds the
layers after `COPY . /app` and the dependencies come from the build cache.
"""
from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from typing import Mapping

from .app_json import parse_app_json
from .builds import BuildError
from .procfile import parse_procfile

DOCKERFILE = "dockerfile"
PYTHON = "python"
NODE = "node"
GO = "go"
STATIC = "static"

# Top-level files whose text the plan reads (the worker hands them over, size-capped).
MANIFESTS = ("package.json", "pyproject.toml", "go.mod", "app.json")

# Inside the build context: where the CA bundle for build-time downloads is placed, and
# where generated Dockerfiles install it in the image being built.
CA_IN_CONTEXT = "berth-ca.crt"
CA_IN_IMAGE = "/etc/ssl/certs/berth-build-ca.crt"
CA_BUILD_ARG = "BERTH_CA_BUNDLE"

STATIC_WEB = "busybox httpd -f -v -p $PORT -h /app"
GO_BIN_DIR = "/app/bin"

# uv projects (uv.lock): where uv is installed in the build (it uses the image's python).
UV_HOME = "/opt/uv"

# What a pyproject.toml without [build-system] is built with (PEP 517's fallback).
_LEGACY_BUILD_REQUIRES = ["setuptools>=40.8.0"]


@dataclass(frozen=True)
class BaseImages:
    python: str = "berth/python:bookworm"
    static: str = "berth/static:bookworm"
    node: str = "berth/node:bookworm"
    go: str = "berth/go:bookworm"
    go_runtime: str = "berth/static:bookworm"


@dataclass(frozen=True)
class BuildPlan:
    stack: str
    reason: str  # what the detection saw, for the build output
    process_types: dict[str, str | None]
    dockerfile: str | None  # None: the source's own Dockerfile is built as is
    build_args: dict[str, str] = field(default_factory=dict)
    # From app.json: process type -> normalized checks (domain/app_json.py).
    healthchecks: dict[str, list[dict]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # extra lines for the build output
    # Top-level entries of the source left out of the build context (e.g. a node_modules
    # built on the developer's machine, which would overwrite the installed one).
    exclude: frozenset[str] = frozenset()
    # From app.json: process type -> initial quantity (for types not scaled yet).
    formation: dict[str, int] = field(default_factory=dict)


def detect_stack(files: set[str]) -> tuple[str, str]:
    """(stack, the file that decided it) from the top-level file names of the source."""
    if "Dockerfile" in files:
        return DOCKERFILE, "Dockerfile"
    for marker in ("uv.lock", "requirements.txt", "pyproject.toml"):
        if marker in files:
            return PYTHON, marker
    if "package.json" in files:
        return NODE, "package.json"
    if "go.mod" in files:
        return GO, "go.mod"
    if "index.html" in files:
        return STATIC, "index.html"
    raise BuildError(
        "could not detect the app's stack: add a Dockerfile, requirements.txt, pyproject.toml, "
        "package.json, go.mod or index.html"
    )


def plan_build(files: set[str], procfile: str | None, images: BaseImages, with_ca: bool, *,
               dirs: set[str] | frozenset[str] = frozenset(),
               texts: Mapping[str, str] | None = None) -> BuildPlan:
    """Decide how to build a source tree. `files`/`dirs` are the names at its top;
    `procfile` is the Procfile's text, if any; `texts` holds the text of those MANIFESTS
    that exist; `with_ca` says a CA bundle will be placed in the context as CA_IN_CONTEXT."""
    texts = texts or {}
    stack, marker = detect_stack(files)
    declared: dict[str, str | None] = dict(parse_procfile(procfile)) if procfile is not None else {}
    plan = _plan_stack(stack, marker, files, dirs, texts, declared, images, with_ca)
    if "app.json" not in texts:
        return plan
    app_json = parse_app_json(texts["app.json"])
    notes = list(app_json.notes)
    for process in app_json.healthchecks:
        if process not in plan.process_types:
            notes.append(f"app.json: health checks declared for {process!r}, which is not a process type")
    if app_json.healthchecks:
        notes.append("app.json: health checks for " + ", ".join(
            f"{process} ({len(checks)})" for process, checks in app_json.healthchecks.items()))
    formation = {}
    for process, quantity in app_json.formation.items():
        if process not in plan.process_types or process == "release":
            notes.append(f"app.json: formation for {process!r}, which is not a process type that runs")
        else:
            formation[process] = quantity
    if formation:
        notes.append("app.json: initial formation " + " ".join(f"{p}={q}" for p, q in formation.items()))
    return BuildPlan(plan.stack, plan.reason, plan.process_types, plan.dockerfile, plan.build_args,
                     app_json.healthchecks, [*plan.notes, *notes], plan.exclude, formation)


def _plan_stack(stack: str, marker: str, files, dirs, texts: Mapping[str, str],
                declared: dict[str, str | None], images: BaseImages, with_ca: bool) -> BuildPlan:
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
        # A virtualenv made on the developer's machine would replace the one built here.
        exclude = frozenset({".venv"})
        if "uv.lock" in files:
            if "pyproject.toml" not in files:
                raise BuildError("uv.lock without pyproject.toml: commit the pyproject.toml it locks")
            notes = ["uv.lock: dependencies installed with `uv sync --locked` in their own cached layer"]
            if "requirements.txt" in files:
                notes.append("uv.lock: requirements.txt is not used")
            return BuildPlan(stack, "Detected python app (pyproject.toml, uv.lock)", declared,
                             python_dockerfile(images.python, False, declared.get("web"), with_ca, uv_lock=True),
                             notes=notes, exclude=exclude)
        has_requirements = "requirements.txt" in files
        deps = None if has_requirements else pyproject_dependencies(texts.get("pyproject.toml", ""))
        notes = []
        if not has_requirements:
            notes.append("pyproject.toml: dependencies installed in their own cached layer"
                         if deps is not None else
                         "pyproject.toml: no static [project].dependencies; the project is "
                         "installed with the source (no separate dependency layer)")
        return BuildPlan(stack, f"Detected python app ({marker})", declared,
                         python_dockerfile(images.python, has_requirements, declared.get("web"), with_ca,
                                           pyproject_deps=deps),
                         notes=notes, exclude=exclude)
    if stack == NODE:
        package = _package_json(texts.get("package.json", "{}"))
        web = declared.get("web") or node_default_web(package, files)
        if web is None:
            raise BuildError(
                "Node.js app without a web command: add `scripts.start` to package.json, a `main` "
                "file, a server.js, or a Procfile with a `web:` entry"
            )
        lockfiles = [f for f in ("package-lock.json", "npm-shrinkwrap.json") if f in files]
        return BuildPlan(stack, f"Detected node app (package.json, {'npm ci' if lockfiles else 'npm install'})",
                         {"web": web, **declared},
                         node_dockerfile(images.node, lockfiles, web, with_ca),
                         exclude=frozenset({"node_modules"}))
    if stack == GO:
        binary = go_binary_name(texts.get("go.mod", ""))
        vendored = "vendor" in dirs
        web = declared.get("web") or f"{GO_BIN_DIR}/{binary}"
        return BuildPlan(stack, f"Detected go app (go.mod{', vendor/' if vendored else ''})",
                         {"web": web, **declared},
                         go_dockerfile(images.go, images.go_runtime, "go.sum" in files, vendored, web, with_ca))
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


# --- python ----------------------------------------------------------------------------

def pyproject_dependencies(text: str) -> list[str] | None:
    """What to install before the source is copied, for a pyproject.toml: the build
    requirements and [project].dependencies, when they are declared statically. None when
    they are not (no [project] table, or `dependencies` listed in `dynamic`): then the
    project is installed with its source and nothing is cached separately."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise BuildError(f"pyproject.toml: invalid TOML: {e}") from e
    project = doc.get("project")
    if not isinstance(project, dict) or "dependencies" in (project.get("dynamic") or []):
        return None
    deps = project.get("dependencies", [])
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise BuildError("pyproject.toml: [project].dependencies must be a list of strings")
    build_system = doc.get("build-system")
    requires = _LEGACY_BUILD_REQUIRES
    backend = "setuptools.build_meta:__legacy__"
    if isinstance(build_system, dict) and "requires" in build_system:
        requires = build_system["requires"]
        if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
            raise BuildError("pyproject.toml: [build-system].requires must be a list of strings")
        backend = str(build_system.get("build-backend", backend))
    if backend.startswith("setuptools") and not any(re.match(r"wheel\b", r) for r in requires):
        # setuptools before 70 asks for `wheel` at build time (get_requires_for_build_wheel);
        # without build isolation it must already be there.
        requires = [*requires, "wheel"]
    return [*requires, *deps]


def python_dockerfile(base: str, has_requirements: bool, web: str | None, with_ca: bool,
                      pyproject_deps: list[str] | None = None, uv_lock: bool = False) -> str:
    copy_ca, env = _ca_lines(with_ca)
    lines = [
        f"FROM {base}",
        "WORKDIR /app",
        "ENV VIRTUAL_ENV=/app/.venv PATH=/app/.venv/bin:$PATH "
        "PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1",
        *copy_ca,
    ]
    if uv_lock:
        # uv lives outside the app's venv (`uv sync` removes what the lock does not list) and
        # uses the image's python (no interpreter downloads). The locked dependencies come
        # first, without the project, so a code change reuses their layer.
        lines += [
            "ENV UV_PROJECT_ENVIRONMENT=/app/.venv UV_PYTHON_DOWNLOADS=never "
            "UV_LINK_MODE=copy UV_NO_CACHE=1",
            f"RUN python3 -m venv {UV_HOME} && {env}{UV_HOME}/bin/pip install --no-cache-dir uv",
            "COPY pyproject.toml uv.lock /app/",
            f"RUN {env}{UV_HOME}/bin/uv sync --locked --no-dev --no-install-project",
            "COPY . /app",
            f"RUN {env}{UV_HOME}/bin/uv sync --locked --no-dev",
        ]
        return "\n".join(lines + _cmd(web)) + "\n"
    lines.append("RUN python3 -m venv /app/.venv")
    if has_requirements:
        # Dependencies first: while requirements.txt is unchanged, these layers come from
        # the cache and only the final COPY of the source is rebuilt.
        lines += [
            "COPY requirements.txt /app/requirements.txt",
            f"RUN {env}pip install --no-cache-dir -r /app/requirements.txt",
            "COPY . /app",
        ]
    elif pyproject_deps is not None:
        # pyproject.toml with static dependencies: they are spelled out on the RUN line, so
        # that layer is cached while they stay the same; the project itself is installed
        # after the source is copied, without its dependencies and with the build backend
        # already in the venv (no download when only the code changed).
        lines.append("RUN " + (f"{env}pip install --no-cache-dir " + " ".join(shlex.quote(d) for d in pyproject_deps)
                               if pyproject_deps else "true"))
        lines += ["COPY . /app", f"RUN {env}pip install --no-cache-dir --no-deps --no-build-isolation /app"]
    else:
        # pyproject.toml without static dependencies: the project must be present to be installed.
        lines += ["COPY . /app", f"RUN {env}pip install --no-cache-dir /app"]
    lines += _cmd(web)
    return "\n".join(lines) + "\n"


# --- node ------------------------------------------------------------------------------

def _package_json(text: str) -> dict:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise BuildError(f"package.json: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from e
    if not isinstance(doc, dict):
        raise BuildError("package.json: must be a JSON object")
    if "scripts" in doc and not isinstance(doc["scripts"], dict):
        raise BuildError("package.json: scripts must be an object")
    if "main" in doc and not isinstance(doc["main"], str):
        raise BuildError("package.json: main must be a string")
    return doc


def node_default_web(package: dict, files: set[str]) -> str | None:
    """`npm start` when package.json has scripts.start, else `node <main>`, else
    `node server.js` when there is one (npm start's own default), else None."""
    if isinstance(package.get("scripts", {}).get("start"), str):
        return "npm start"
    if package.get("main"):
        return f"node {shlex.quote(package['main'])}"
    if "server.js" in files:
        return "node server.js"
    return None


def node_dockerfile(base: str, lockfiles: list[str], web: str | None, with_ca: bool) -> str:
    copy_ca, _ = _ca_lines(with_ca)
    # npm reads its settings from npm_config_* variables; the CA is set on the install
    # line only (`cafile` for npm's own downloads, NODE_EXTRA_CA_CERTS for install scripts).
    env = (f"NODE_EXTRA_CA_CERTS={CA_IN_IMAGE} npm_config_cafile={CA_IN_IMAGE} "
           f"SSL_CERT_FILE={CA_IN_IMAGE} " if with_ca else "")
    install = "npm ci" if lockfiles else "npm install"
    lines = [
        f"FROM {base}",
        "WORKDIR /app",
        "ENV NODE_ENV=production PATH=/app/node_modules/.bin:$PATH "
        "npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false",
        *copy_ca,
        # The manifests first: while they are unchanged the install comes from the cache.
        f"COPY {' '.join(['package.json', *lockfiles])} /app/",
        f"RUN {env}npm_config_cache=/tmp/.npm {install} --omit=dev && rm -rf /tmp/.npm",
        "COPY . /app",
        *_cmd(web),
    ]
    return "\n".join(lines) + "\n"


# --- go --------------------------------------------------------------------------------

_MODULE = re.compile(r"^\s*module\s+\"?([^\s\"]+)\"?", re.MULTILINE)


def go_binary_name(go_mod: str) -> str:
    """The name `go build` gives the main package at the module's root: the last element
    of the module path (the one before it for a /vN major-version suffix)."""
    match = _MODULE.search(go_mod)
    if not match:
        raise BuildError("go.mod: no `module` line")
    parts = [p for p in match.group(1).split("/") if p]
    name = parts[-1] if parts else ""
    if re.fullmatch(r"v[0-9]+", name) and len(parts) > 1:
        name = parts[-2]
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name) or "app"


def go_dockerfile(base: str, runtime: str, has_go_sum: bool, vendored: bool, web: str | None,
                  with_ca: bool) -> str:
    """Two stages: compile on the Go image (CGO off, so the binary is static), run on the
    small runtime image. The Go toolchain on the image is used as is (GOTOOLCHAIN=local).
    Dependencies come from vendor/ when there is one (-mod=vendor, nothing downloaded),
    else `go mod download` in its own cached layer (through GOPROXY, with the CA)."""
    copy_ca, env = _ca_lines(with_ca)
    manifests = " ".join(["go.mod", *(["go.sum"] if has_go_sum else [])])
    lines = [
        f"FROM {base} AS build",
        "WORKDIR /src",
        "ENV CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=" + ("-mod=vendor" if vendored else "-mod=readonly")
        + " GOPATH=/tmp/go GOCACHE=/tmp/go-cache",
        *copy_ca,
        f"COPY {manifests} /src/",
    ]
    if vendored:
        lines.append("COPY vendor /src/vendor")
    else:
        lines.append(f"RUN {env}go mod download")
    lines += [
        "COPY . /src",
        # Every main package goes to bin/ (the one at the module root named after the module).
        "RUN mkdir -p /out/bin && go build -trimpath -ldflags='-s -w' -o /out/bin/ ./...",
        f"FROM {runtime}",
        "WORKDIR /app",
        f"ENV PATH={GO_BIN_DIR}:$PATH",
        # The source tree too (templates, static files), then the binaries.
        "COPY . /app",
        f"COPY --from=build /out/bin {GO_BIN_DIR}",
        *_cmd(web),
    ]
    return "\n".join(lines) + "\n"


# --- static ----------------------------------------------------------------------------

def static_dockerfile(base: str) -> str:
    return "\n".join([
        f"FROM {base}",
        "WORKDIR /app",
        "COPY . /app",
        "ENV PORT=5000",
        *_cmd(f"exec {STATIC_WEB}"),
    ]) + "\n"
