import pytest

from berth_builder.domain.builds import BuildError, image_tag
from berth_builder.domain.procfile import ProcfileError
from berth_builder.domain.stacks import (
    CA_IN_IMAGE, STATIC_WEB, BaseImages, detect_stack, plan_build, python_dockerfile,
)

IMAGES = BaseImages(python="corp/python:3", static="corp/static:1")


@pytest.mark.parametrize("files, stack", [
    ({"Dockerfile", "requirements.txt", "index.html"}, "dockerfile"),
    ({"requirements.txt", "index.html"}, "python"),
    ({"pyproject.toml"}, "python"),
    ({"index.html", "style.css"}, "static"),
    ({"requirements.txt", "package.json", "go.mod"}, "python"),
    ({"package.json", "go.mod", "index.html"}, "node"),
    ({"go.mod", "index.html"}, "go"),
    ({"Dockerfile", "package.json"}, "dockerfile"),
])
def test_detection_order(files, stack):
    assert detect_stack(files)[0] == stack


def test_undetectable_source_fails_with_advice():
    with pytest.raises(BuildError, match="could not detect the app's stack: add a Dockerfile, requirements.txt, pyproject.toml, package.json, go.mod or index.html"):
        plan_build({"README.md"}, None, IMAGES, with_ca=False)


def test_dockerfile_app_without_procfile_runs_image_cmd():
    plan = plan_build({"Dockerfile"}, None, IMAGES, with_ca=False)
    assert plan.dockerfile is None and plan.process_types == {"web": None} and plan.build_args == {}


def test_dockerfile_app_gets_ca_as_build_arg():
    plan = plan_build({"Dockerfile"}, "worker: ./run\n", IMAGES, with_ca=True)
    assert plan.build_args == {"BERTH_CA_BUNDLE": "berth-ca.crt"}
    assert plan.process_types == {"web": None, "worker": "./run"}


def test_python_without_procfile_asks_for_web_entry():
    with pytest.raises(BuildError, match="add a Procfile with a `web:` entry"):
        plan_build({"requirements.txt"}, None, IMAGES, with_ca=False)


def test_bad_procfile_fails_the_plan():
    with pytest.raises(ProcfileError, match="Procfile line 2"):
        plan_build({"requirements.txt", "Procfile"}, "web: python app.py\nnonsense\n", IMAGES, with_ca=False)


def test_python_dockerfile_orders_layers_for_the_cache():
    plan = plan_build({"requirements.txt", "app.py", "Procfile"}, "web: python app.py\n", IMAGES, with_ca=False)
    lines = plan.dockerfile.splitlines()
    assert lines[0] == "FROM corp/python:3"
    assert "WORKDIR /app" in lines
    env = next(l for l in lines if l.startswith("ENV "))
    assert "PATH=/app/.venv/bin:" in env
    copy_reqs = lines.index("COPY requirements.txt /app/requirements.txt")
    install = next(i for i, l in enumerate(lines) if "pip install" in l)
    copy_all = lines.index("COPY . /app")
    assert copy_reqs < install < copy_all
    assert "-r /app/requirements.txt" in lines[install]
    assert "berth-ca" not in plan.dockerfile and "PIP_CERT" not in plan.dockerfile
    assert lines[-1] == 'CMD ["/bin/sh", "-c", "python app.py"]'
    assert plan.process_types == {"web": "python app.py"}


def test_python_dockerfile_with_ca_sets_it_only_for_downloads():
    text = python_dockerfile("p", has_requirements=True, web=None, with_ca=True)
    lines = text.splitlines()
    copy_ca = lines.index(f"COPY berth-ca.crt {CA_IN_IMAGE}")
    install = next(i for i, l in enumerate(lines) if "pip install" in l)
    assert copy_ca < install
    assert lines[install].startswith(
        f"RUN PIP_CERT={CA_IN_IMAGE} SSL_CERT_FILE={CA_IN_IMAGE} REQUESTS_CA_BUNDLE={CA_IN_IMAGE} pip install")
    env = next(l for l in lines if l.startswith("ENV "))
    assert "PIP_CERT" not in env and "SSL_CERT_FILE" not in env  # not the app's CA at run time


def test_pyproject_installs_the_project():
    text = python_dockerfile("p", has_requirements=False, web="app", with_ca=False)
    lines = text.splitlines()
    assert lines.index("COPY . /app") < lines.index("RUN pip install --no-cache-dir /app")


def test_static_plan():
    plan = plan_build({"index.html"}, None, IMAGES, with_ca=True)
    assert plan.stack == "static"
    assert plan.process_types == {"web": STATIC_WEB} == {"web": "busybox httpd -f -v -p $PORT -h /app"}
    assert plan.dockerfile.splitlines()[0] == "FROM corp/static:1"
    assert "COPY . /app" in plan.dockerfile


def test_image_tag():
    assert image_tag("shop", "0b4e4b9c-25a5-4b9b-9a36-7d7c1c1f4f55") == "berth/app-shop:0b4e4b9c25a54b9b9a367d7c1c1f4f55"
