"""Node.js, Go and pyproject.toml builds: detection, default commands and the generated
Dockerfiles (layer order for the cache, the CA on download lines only)."""
import json

import pytest

from berth_builder.domain.builds import BuildError
from berth_builder.domain.stacks import (
    CA_IN_IMAGE, BaseImages, go_binary_name, plan_build, pyproject_dependencies, python_dockerfile,
)

IMAGES = BaseImages(python="corp/python:3", static="corp/static:1", node="corp/node:20", go="corp/go:1.22",
                    go_runtime="corp/distroless:1")


def index(lines: list[str], prefix: str) -> int:
    return next(i for i, l in enumerate(lines) if l.startswith(prefix))


# --- node --------------------------------------------------------------------------------

def node_plan(package: dict, files=(), procfile=None, with_ca=False):
    return plan_build({"package.json", *files}, procfile, IMAGES, with_ca=with_ca,
                      texts={"package.json": json.dumps(package)})


def test_node_with_lockfile_uses_npm_ci_and_orders_layers():
    plan = node_plan({"scripts": {"start": "node server.js"}, "dependencies": {"ms": "^2"}},
                     files={"package-lock.json", "server.js"})
    assert plan.stack == "node"
    assert plan.process_types == {"web": "npm start"}
    assert plan.exclude == frozenset({"node_modules"})
    lines = plan.dockerfile.splitlines()
    assert lines[0] == "FROM corp/node:20"
    copy_manifests = lines.index("COPY package.json package-lock.json /app/")
    install = index(lines, "RUN ")
    copy_all = lines.index("COPY . /app")
    assert copy_manifests < install < copy_all
    assert "npm ci --omit=dev" in lines[install]
    assert "berth-ca" not in plan.dockerfile and "cafile" not in plan.dockerfile
    assert "NODE_ENV=production" in lines[index(lines, "ENV ")]
    assert lines[-1] == 'CMD ["/bin/sh", "-c", "npm start"]'


def test_node_without_lockfile_uses_npm_install():
    plan = node_plan({"main": "index.js"})
    lines = plan.dockerfile.splitlines()
    assert "COPY package.json /app/" in lines
    install = lines[index(lines, "RUN ")]
    assert "npm install --omit=dev" in install and "npm ci" not in install
    assert plan.process_types == {"web": "node index.js"}


def test_node_ca_is_set_on_the_install_line_only():
    plan = node_plan({"scripts": {"start": "x"}}, files={"package-lock.json"}, with_ca=True)
    lines = plan.dockerfile.splitlines()
    copy_ca = lines.index(f"COPY berth-ca.crt {CA_IN_IMAGE}")
    install = index(lines, "RUN ")
    assert copy_ca < install
    assert lines[install].startswith(f"RUN NODE_EXTRA_CA_CERTS={CA_IN_IMAGE} npm_config_cafile={CA_IN_IMAGE} ")
    env = lines[index(lines, "ENV ")]
    assert "NODE_EXTRA_CA_CERTS" not in env and "cafile" not in env
    assert sum("NODE_EXTRA_CA_CERTS" in l for l in lines) == 1


@pytest.mark.parametrize("package, files, web", [
    ({"scripts": {"start": "node app.js"}, "main": "lib.js"}, {"server.js"}, "npm start"),
    ({"main": "lib/main.js"}, {"server.js"}, "node lib/main.js"),
    ({"scripts": {"test": "jest"}}, {"server.js"}, "node server.js"),
])
def test_node_default_web_command(package, files, web):
    assert node_plan(package, files).process_types == {"web": web}


def test_node_procfile_overrides_and_adds():
    plan = node_plan({"scripts": {"start": "x"}}, procfile="web: node a.js\nworker: node w.js\nrelease: node migrate.js\n")
    assert plan.process_types == {"web": "node a.js", "worker": "node w.js", "release": "node migrate.js"}
    assert plan.dockerfile.splitlines()[-1] == 'CMD ["/bin/sh", "-c", "node a.js"]'


def test_node_without_any_web_command_fails_with_advice():
    with pytest.raises(BuildError, match="Node.js app without a web command: add `scripts.start`"):
        node_plan({"name": "x"})


def test_node_bad_package_json_fails_clearly():
    with pytest.raises(BuildError, match="package.json: invalid JSON at line 1"):
        plan_build({"package.json"}, None, IMAGES, with_ca=False, texts={"package.json": "{oops"})
    with pytest.raises(BuildError, match="package.json: scripts must be an object"):
        node_plan({"scripts": ["start"]})


# --- go ----------------------------------------------------------------------------------

GO_MOD = "module example.com/hello-api\n\ngo 1.19\n"


def test_go_multi_stage_build_without_vendor():
    plan = plan_build({"go.mod", "main.go"}, None, IMAGES, with_ca=False, texts={"go.mod": GO_MOD})
    assert plan.stack == "go"
    assert plan.process_types == {"web": "/app/bin/hello-api"}
    lines = plan.dockerfile.splitlines()
    assert lines[0] == "FROM corp/go:1.22 AS build"
    env = lines[index(lines, "ENV ")]
    assert "CGO_ENABLED=0" in env and "GOTOOLCHAIN=local" in env and "GOFLAGS=-mod=readonly" in env
    copy_mod = lines.index("COPY go.mod /src/")  # no go.sum in this source
    download = lines.index("RUN go mod download")
    copy_all = lines.index("COPY . /src")
    build = index(lines, "RUN mkdir -p /out/bin && go build")
    runtime = lines.index("FROM corp/distroless:1")
    assert copy_mod < download < copy_all < build < runtime
    assert "COPY --from=build /out/bin /app/bin" in lines[runtime:]
    assert lines[-1] == 'CMD ["/bin/sh", "-c", "/app/bin/hello-api"]'
    assert "berth-ca" not in plan.dockerfile


def test_go_vendored_build_downloads_nothing():
    plan = plan_build({"go.mod", "go.sum"}, "worker: /app/bin/worker\n", IMAGES, with_ca=True,
                      dirs={"vendor"}, texts={"go.mod": GO_MOD})
    lines = plan.dockerfile.splitlines()
    assert "GOFLAGS=-mod=vendor" in lines[index(lines, "ENV ")]
    assert lines.index("COPY go.mod go.sum /src/") < lines.index("COPY vendor /src/vendor") < lines.index("COPY . /src")
    assert "go mod download" not in plan.dockerfile
    assert plan.process_types == {"web": "/app/bin/hello-api", "worker": "/app/bin/worker"}
    assert plan.reason == "Detected go app (go.mod, vendor/)"


def test_go_download_gets_the_ca_on_its_line_only():
    plan = plan_build({"go.mod", "go.sum"}, None, IMAGES, with_ca=True, texts={"go.mod": GO_MOD})
    lines = plan.dockerfile.splitlines()
    assert lines.index(f"COPY berth-ca.crt {CA_IN_IMAGE}") < lines.index(
        f"RUN PIP_CERT={CA_IN_IMAGE} SSL_CERT_FILE={CA_IN_IMAGE} REQUESTS_CA_BUNDLE={CA_IN_IMAGE} go mod download")
    assert not any("SSL_CERT_FILE" in l for l in lines if l.startswith("ENV"))


@pytest.mark.parametrize("go_mod, name", [
    ("module example.com/hello-api\n", "hello-api"),
    ("// comment\nmodule \"github.com/acme/tool/v2\"\n", "tool"),
    ("module hello\ngo 1.21\n", "hello"),
])
def test_go_binary_name(go_mod, name):
    assert go_binary_name(go_mod) == name


def test_go_mod_without_module_line_fails():
    with pytest.raises(BuildError, match="go.mod: no `module` line"):
        plan_build({"go.mod"}, None, IMAGES, with_ca=False, texts={"go.mod": "go 1.19\n"})


# --- python: pyproject.toml ------------------------------------------------------------

PYPROJECT = """
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "shop"
version = "1"
dependencies = ["flask>=3", "gunicorn; sys_platform != 'win32'"]
"""


def test_pyproject_dependencies_get_their_own_cached_layer():
    plan = plan_build({"pyproject.toml"}, "web: gunicorn shop:app\n", IMAGES, with_ca=False,
                      texts={"pyproject.toml": PYPROJECT})
    lines = plan.dockerfile.splitlines()
    deps = lines.index("RUN pip install --no-cache-dir hatchling 'flask>=3' 'gunicorn; sys_platform != '\"'\"'win32'\"'\"''")
    copy_all = lines.index("COPY . /app")
    project = lines.index("RUN pip install --no-cache-dir --no-deps --no-build-isolation /app")
    assert deps < copy_all < project
    assert plan.notes == ["pyproject.toml: dependencies installed in their own cached layer"]


def test_pyproject_without_build_system_uses_setuptools():
    assert pyproject_dependencies('[project]\nname = "a"\ndependencies = ["x"]\n') == ["setuptools>=40.8.0", "wheel", "x"]


def test_pyproject_with_dynamic_or_no_project_installs_with_the_source():
    assert pyproject_dependencies('[project]\nname = "a"\ndynamic = ["dependencies"]\n') is None
    assert pyproject_dependencies('[tool.poetry]\nname = "a"\n') is None
    plan = plan_build({"pyproject.toml"}, "web: a\n", IMAGES, with_ca=False, texts={"pyproject.toml": "[tool.poetry]\n"})
    lines = plan.dockerfile.splitlines()
    assert lines.index("COPY . /app") < lines.index("RUN pip install --no-cache-dir /app")


def test_pyproject_ca_on_both_install_lines():
    text = python_dockerfile("p", False, None, True, pyproject_deps=["x"])
    installs = [l for l in text.splitlines() if "pip install" in l]
    assert len(installs) == 2 and all(l.startswith(f"RUN PIP_CERT={CA_IN_IMAGE} ") for l in installs)


def test_bad_pyproject_fails_clearly():
    with pytest.raises(BuildError, match="pyproject.toml: invalid TOML"):
        plan_build({"pyproject.toml"}, "web: a\n", IMAGES, with_ca=False, texts={"pyproject.toml": "[project\n"})
    with pytest.raises(BuildError, match=r"pyproject.toml: \[project\].dependencies must be a list of strings"):
        pyproject_dependencies('[project]\ndependencies = "flask"\n')


# --- python: uv.lock ----------------------------------------------------------------------

def test_uv_lock_installs_the_locked_dependencies_before_the_source():
    plan = plan_build({"pyproject.toml", "uv.lock", "requirements.txt"}, "web: python app.py\n", IMAGES,
                      with_ca=False, texts={"pyproject.toml": PYPROJECT})
    assert plan.reason == "Detected python app (pyproject.toml, uv.lock)"
    assert plan.notes == ["uv.lock: dependencies installed with `uv sync --locked` in their own cached layer",
                          "uv.lock: requirements.txt is not used"]
    lines = plan.dockerfile.splitlines()
    install_uv = lines.index("RUN python3 -m venv /opt/uv && /opt/uv/bin/pip install --no-cache-dir uv")
    copy_lock = lines.index("COPY pyproject.toml uv.lock /app/")
    deps = lines.index("RUN /opt/uv/bin/uv sync --locked --no-dev --no-install-project")
    copy_all = lines.index("COPY . /app")
    project = lines.index("RUN /opt/uv/bin/uv sync --locked --no-dev")
    assert install_uv < copy_lock < deps < copy_all < project
    env = [l for l in lines if l.startswith("ENV ")]
    assert any("UV_PROJECT_ENVIRONMENT=/app/.venv" in l and "UV_PYTHON_DOWNLOADS=never" in l for l in env)
    assert not any("requirements.txt" in l for l in lines)
    assert lines[-1] == 'CMD ["/bin/sh", "-c", "python app.py"]'


def test_uv_lock_downloads_trust_the_ca():
    text = python_dockerfile("p", False, None, True, uv_lock=True)
    downloads = [l for l in text.splitlines() if "pip install" in l or "uv sync" in l]
    assert len(downloads) == 3 and all(f"SSL_CERT_FILE={CA_IN_IMAGE} " in l for l in downloads)


def test_uv_lock_without_pyproject_fails_clearly():
    with pytest.raises(BuildError, match="uv.lock without pyproject.toml"):
        plan_build({"uv.lock"}, "web: a\n", IMAGES, with_ca=False)


def test_a_local_virtualenv_is_left_out_of_python_builds():
    for files in ({"requirements.txt"}, {"pyproject.toml"}, {"pyproject.toml", "uv.lock"}):
        plan = plan_build(files, "web: a\n", IMAGES, with_ca=False, texts={"pyproject.toml": PYPROJECT})
        assert ".venv" in plan.exclude


# --- release phase -----------------------------------------------------------------------

@pytest.mark.parametrize("files, texts", [
    ({"requirements.txt"}, {}),
    ({"Dockerfile"}, {}),
    ({"package.json", "server.js"}, {"package.json": "{}"}),
    ({"go.mod"}, {"go.mod": GO_MOD}),
    ({"index.html"}, {}),
])
def test_release_entry_is_kept_as_a_process_type(files, texts):
    plan = plan_build(files, "web: run-web\nrelease: ./migrate\n", IMAGES, with_ca=False, texts=texts)
    assert plan.process_types["release"] == "./migrate"
