"""The builder against real NATS, Postgres and the Docker engine: a source archive goes
into the object store, a BuildRequested event into the api's stream, and the results are
read back as the real events in BERTH_BUILDER, build log lines in BERTH_LOGS and images
in Docker."""
from __future__ import annotations

import asyncio
import io
import json
import os
import tarfile
import uuid
from pathlib import Path

import aiohttp
import docker
import nats
import pytest
from aiohttp import web

from berth_builder.app import init_app
from berth_builder.config import BuilderSettings
from berth_cli.platform import free_port
from berth_common import bus, events, service
from berth_common.settings import CommonSettings

EXAMPLES = Path(__file__).resolve().parents[4] / "examples"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
async def builder(nats_url, database_url, streams):
    port = free_port()
    common = CommonSettings(service="builder", nats_url=nats_url, database_url=database_url,
                            health_port=port, health_host="127.0.0.1", traces_file=None)
    settings = BuilderSettings(ca_bundle=HOST_CA if HOST_CA.exists() else None, poll_seconds=2)
    app = init_app(common, settings)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield app, f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture(scope="module")
async def js(nats_url, streams):
    nc = await bus.connect(nats_url, "builder-tests")
    yield nc.jetstream()
    await nc.close()


@pytest.fixture(scope="module")
def images():
    """Tags created by the tests, removed at the end."""
    client = docker.from_env()
    created: list[str] = []
    yield created
    for tag in created:
        try:
            client.images.remove(tag, force=True)
        except docker.errors.ImageNotFound:
            pass
    client.close()


def tar_gz(directory: Path, extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(directory.rglob("*")):
            rel = path.relative_to(directory).as_posix()
            if extra and rel in extra:
                continue
            tar.add(path, arcname=rel, recursive=False)
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def unique_app(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def request_build(js, app: str, archive: bytes, traceparent: str | None = None) -> events.Envelope:
    build_id = str(uuid.uuid4())
    name = f"{app}/{build_id}.tar.gz"
    store = await js.object_store(events.SOURCES_BUCKET)
    await store.put(name, archive)
    env = events.envelope(events.BuildRequested(app=app, build_id=build_id, source_object=name),
                          traceparent=traceparent)
    await js.publish(env.type, env.model_dump_json().encode(), headers={"Nats-Msg-Id": env.id})
    return env


async def build_events(js, build_id: str, until_final: bool = True, timeout: float = 600) -> list[events.Envelope]:
    """The builder's events for one build, read from its stream, up to the final one."""
    sub = await js.subscribe("berth.build.>", stream=events.stream_name("builder"), ordered_consumer=True)
    found: list[events.Envelope] = []
    deadline = asyncio.get_running_loop().time() + timeout
    try:
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"no final event for build {build_id}; saw {[e.type for e in found]}")
            try:
                msg = await sub.next_msg(timeout=min(left, 5))
            except nats.errors.TimeoutError:
                if not until_final:
                    return found
                continue
            env = events.Envelope.model_validate_json(msg.data)
            if env.data.get("build_id") != build_id:
                continue
            found.append(env)
            if until_final and env.type in (events.BuildCompleted.type, events.BuildFailed.type):
                return found
    finally:
        await sub.unsubscribe()


async def build_log(js, app: str) -> list[str]:
    sub = await js.subscribe(events.log_subject(app, "build"), stream=events.LOGS_STREAM, ordered_consumer=True)
    lines = []
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=2)
            except nats.errors.TimeoutError:
                return lines
            line = events.LogLine.model_validate_json(msg.data)
            assert line.source == "build" and line.process == "build"
            lines.append(line.line)
    finally:
        await sub.unsubscribe()


def final(envs: list[events.Envelope]) -> events.Envelope:
    return envs[-1]


async def test_healthz(builder):
    _, url = builder
    async with aiohttp.ClientSession() as s, s.get(f"{url}/healthz") as r:
        assert r.status == 200
        assert (await r.json())["checks"] == {"postgres": "ok", "nats": "ok"}


async def test_static_site_builds_in_the_trace_of_the_request(builder, js, images):
    app_, _ = builder
    app = unique_app("static")
    trace_id = uuid.uuid4().hex
    env = await request_build(js, app, tar_gz(EXAMPLES / "static-site"), traceparent=f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01")
    build_id = env.data["build_id"]
    envs = await build_events(js, build_id)
    done = final(envs)
    assert done.type == events.BuildCompleted.type, done.data
    assert [e.type for e in envs] == [events.BuildStarted.type, events.BuildCompleted.type]
    data = events.BuildCompleted.model_validate(done.data)
    images.append(data.image)
    assert data.stack == "static"
    assert data.image == f"berth/app-{app}:{uuid.UUID(build_id).hex}"
    assert data.process_types == {"web": "busybox httpd -f -v -p $PORT -h /app"}
    # One trace from the request to the build's events.
    for e in envs:
        assert e.traceparent and e.traceparent.split("-")[1] == trace_id

    labels = docker.from_env().images.get(data.image).labels
    assert labels["berth.app"] == app and labels["berth.build"] == build_id

    lines = await build_log(js, app)
    assert "-----> Detected static site (index.html)" in lines
    assert any(l.startswith("Step 1/") for l in lines), lines
    assert lines[-1] == f"-----> Build succeeded: image {data.image}"

    row = await app_[service.POOL].fetchrow("SELECT * FROM builds WHERE id = $1", build_id)
    assert row["status"] == "succeeded" and row["stack"] == "static" and row["image"] == data.image
    assert row["started_at"] and row["finished_at"]

    # The same request again under another message id: the inbox makes it a no-op.
    await js.publish(env.type, env.model_dump_json().encode(), headers={"Nats-Msg-Id": str(uuid.uuid4())})
    await asyncio.sleep(3)
    again = await build_events(js, build_id, until_final=False, timeout=10)
    assert [e.type for e in again] == [events.BuildStarted.type, events.BuildCompleted.type]


async def test_python_app_installs_dependencies_through_the_proxy(builder, js, images):
    app = unique_app("py")
    # A requirements file never built before, so the dependency layer cannot come from the cache.
    requirements = (EXAMPLES / "python-app" / "requirements.txt").read_bytes() + f"# {app}\n".encode()
    env = await request_build(js, app, tar_gz(EXAMPLES / "python-app", {"requirements.txt": requirements}))
    done = final(await build_events(js, env.data["build_id"]))
    lines = await build_log(js, app)
    assert done.type == events.BuildCompleted.type, (done.data, lines[-20:])
    data = events.BuildCompleted.model_validate(done.data)
    images.append(data.image)
    assert data.stack == "python" and data.process_types == {"web": "python app.py"}
    assert "-----> Detected python app (requirements.txt)" in lines
    assert any("Successfully installed itsdangerous" in l for l in lines), lines

    # The venv is first on PATH and holds the dependency.
    def run() -> bytes:
        return docker.from_env().containers.run(
            data.image, ["python", "-c", "import itsdangerous, sys; print(itsdangerous.__version__, sys.prefix)"],
            remove=True,
        )
    out = (await asyncio.to_thread(run)).decode()
    assert out.split() == ["2.2.0", "/app/.venv"]


async def test_dockerfile_app_is_built_as_is(builder, js, images):
    app = unique_app("df")
    env = await request_build(js, app, tar_gz(EXAMPLES / "dockerfile-app"))
    done = final(await build_events(js, env.data["build_id"]))
    assert done.type == events.BuildCompleted.type, done.data
    data = events.BuildCompleted.model_validate(done.data)
    images.append(data.image)
    assert data.stack == "dockerfile" and data.process_types == {"web": None}
    assert "-----> Dockerfile found: building it as is" in await build_log(js, app)


async def test_malicious_archive_fails_naming_the_entry(builder, js):
    app = unique_app("evil")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        body = b"<p>hi</p>"
        info = tarfile.TarInfo("index.html")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
        link = tarfile.TarInfo("passwd")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)
    env = await request_build(js, app, buf.getvalue())
    done = final(await build_events(js, env.data["build_id"]))
    assert done.type == events.BuildFailed.type
    reason = done.data["reason"]
    assert "'passwd'" in reason and "symlink to absolute path '/etc/passwd'" in reason
    lines = await build_log(js, app)
    assert lines[-1] == f"-----> Build failed: {reason}"


async def test_bad_procfile_fails_with_its_line_number(builder, js):
    app = unique_app("badproc")
    archive = tar_gz(EXAMPLES / "python-app", extra={"Procfile": b"# processes\nweb: python app.py\nworker\n"})
    env = await request_build(js, app, archive)
    done = final(await build_events(js, env.data["build_id"]))
    assert done.type == events.BuildFailed.type
    assert done.data["reason"].startswith("Procfile line 3: expected `name: command`")
    assert (await build_log(js, app))[-1].startswith("-----> Build failed: Procfile line 3")


async def test_upload_that_is_not_an_archive_fails_clearly(builder, js):
    app = unique_app("zip")
    env = await request_build(js, app, b"PK\x03\x04" + os.urandom(2000))
    done = final(await build_events(js, env.data["build_id"]))
    assert done.type == events.BuildFailed.type
    assert "not a tar.gz" in done.data["reason"]


async def test_build_left_building_by_a_killed_builder_is_rerun_at_start(builder, nats_url, database_url, js, images):
    app_, _ = builder
    app = unique_app("rerun")
    build_id = str(uuid.uuid4())
    name = f"{app}/{build_id}.tar.gz"
    store = await js.object_store(events.SOURCES_BUCKET)
    await store.put(name, tar_gz(EXAMPLES / "static-site"))
    # What a builder killed mid-build leaves behind: a `building` row, BuildStarted already sent.
    await app_[service.POOL].execute(
        "INSERT INTO builds (id, app, status, source_object, started_at) VALUES ($1, $2, 'building', $3, now())",
        build_id, app, name,
    )
    port = free_port()
    common = CommonSettings(service="builder", nats_url=nats_url, database_url=database_url,
                            health_port=port, health_host="127.0.0.1", traces_file=None)
    runner = web.AppRunner(init_app(common, BuilderSettings(poll_seconds=2)))
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        envs = await build_events(js, build_id)
    finally:
        await runner.cleanup()
    assert [e.type for e in envs] == [events.BuildCompleted.type]  # no second BuildStarted
    images.append(envs[-1].data["image"])
    lines = await build_log(js, app)
    assert lines[0].startswith("-----> Restarting this build")


# --- buildpacks: node, go, the dependency cache, app.json --------------------------------

def step_output(lines: list[str], needle: str) -> list[str]:
    """The output of the build step whose `Step N/M : ...` line contains `needle`."""
    start = next(i for i, l in enumerate(lines) if l.startswith("Step ") and needle in l)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith(("Step ", "-----> "))), len(lines))
    return [l.strip() for l in lines[start + 1:end]]


async def answer(image: str, expected_body: str) -> str:
    """Run the image's own command with PORT set, GET / and return the container's output
    once it has printed the request."""
    client = docker.from_env()
    container = await asyncio.to_thread(
        client.containers.run, image, detach=True, environment={"PORT": "8080"},
        ports={"8080/tcp": ("127.0.0.1", None)},
    )
    try:
        await asyncio.to_thread(container.reload)
        port = int(container.ports["8080/tcp"][0]["HostPort"])
        deadline = asyncio.get_running_loop().time() + 60
        body = None
        async with aiohttp.ClientSession() as s:
            while body is None:
                try:
                    async with s.get(f"http://127.0.0.1:{port}/") as r:
                        assert r.status == 200
                        body = await r.text()
                except (aiohttp.ClientError, ConnectionError):
                    await asyncio.sleep(0.5)
                    if asyncio.get_running_loop().time() > deadline:
                        logs = (await asyncio.to_thread(container.logs)).decode()
                        raise AssertionError(f"{image} did not answer; its output:\n{logs}")
        assert body.startswith(expected_body), body
        for _ in range(50):
            logs = (await asyncio.to_thread(container.logs)).decode()
            if "handled GET /" in logs:
                return logs
            await asyncio.sleep(0.2)
        raise AssertionError(f"no `handled GET /` in the output:\n{logs}")
    finally:
        await asyncio.to_thread(container.remove, force=True)
        client.close()


async def build_ok(js, images, app: str, archive: bytes) -> tuple[events.BuildCompleted, list[str]]:
    env = await request_build(js, app, archive)
    done = final(await build_events(js, env.data["build_id"]))
    lines = await build_log(js, app)
    # This build's lines only (the app's log holds its earlier builds too).
    lines = lines[max(i for i, l in enumerate(lines) if l.startswith("-----> Fetching source archive")):]
    assert done.type == events.BuildCompleted.type, (done.data, lines[-30:])
    data = events.BuildCompleted.model_validate(done.data)
    images.append(data.image)
    return data, lines


async def test_node_app_builds_answers_and_caches_its_dependencies(builder, js, images):
    app = unique_app("node")
    package = json.loads((EXAMPLES / "node-app" / "package.json").read_text())
    # A package.json never built before, so the install cannot come from the cache.
    package["description"] = f"test {app}"
    package_json = json.dumps(package, indent=2).encode()
    data, lines = await build_ok(js, images, app, tar_gz(EXAMPLES / "node-app", {"package.json": package_json}))
    assert data.stack == "node" and data.process_types == {"web": "npm start"}
    assert "-----> Detected node app (package.json, npm ci)" in lines
    install = step_output(lines, "npm ci --omit=dev")
    assert "---> Using cache" not in install and any("added 1 package" in l for l in install), install
    logs = await answer(data.image, "Hello from Berth (node)")
    assert "listening on port 8080" in logs

    # The code changes, the dependencies do not: the install step comes from the cache.
    server = (EXAMPLES / "node-app" / "server.js").read_bytes() + f"// changed {app}\n".encode()
    again, lines = await build_ok(js, images, app, tar_gz(
        EXAMPLES / "node-app", {"package.json": package_json, "server.js": server}))
    assert step_output(lines, "npm ci --omit=dev")[0] == "---> Using cache", "\n".join(lines)
    assert step_output(lines, "COPY . /app")[0] != "---> Using cache"
    await answer(again.image, "Hello from Berth (node)")


async def test_go_app_builds_in_two_stages_and_answers(builder, js, images):
    app = unique_app("go")
    main_go = (EXAMPLES / "go-app" / "main.go").read_bytes() + f"\n// {app}\n".encode()
    data, lines = await build_ok(js, images, app, tar_gz(EXAMPLES / "go-app", {"main.go": main_go}))
    assert data.stack == "go" and data.process_types == {"web": "/app/bin/go-app"}
    assert "-----> Detected go app (go.mod)" in lines
    logs = await answer(data.image, "Hello from Berth (go)")
    assert "listening on port 8080" in logs
    # The run image is the small runtime image, not the Go toolchain.
    def has_go() -> bool:
        out = docker.from_env().containers.run(data.image, ["/bin/sh", "-c", "command -v go || echo none"], remove=True)
        return out.decode().strip() != "none"
    assert not await asyncio.to_thread(has_go)


async def test_python_code_change_reuses_the_dependency_layer(builder, js, images):
    app = unique_app("pycache")
    requirements = (EXAMPLES / "python-app" / "requirements.txt").read_bytes() + f"# {app}\n".encode()
    _, lines = await build_ok(js, images, app, tar_gz(EXAMPLES / "python-app", {"requirements.txt": requirements}))
    assert step_output(lines, "pip install")[0] != "---> Using cache"
    code = (EXAMPLES / "python-app" / "app.py").read_bytes() + f"# changed {app}\n".encode()
    data, lines = await build_ok(js, images, app, tar_gz(
        EXAMPLES / "python-app", {"requirements.txt": requirements, "app.py": code}))
    assert step_output(lines, "pip install")[0] == "---> Using cache", lines
    await answer(data.image, "Hello from Berth (python)")


async def test_pyproject_app_installs_dependencies_in_a_cached_layer(builder, js, images, tmp_path):
    app = unique_app("pyproj")
    (tmp_path / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{app}"\nversion = "1"\ndependencies = ["itsdangerous==2.2.0"]\n\n'
        '[tool.setuptools]\npy-modules = ["app"]\n'
    )
    (tmp_path / "Procfile").write_text("web: python app.py\n")
    (tmp_path / "app.py").write_bytes((EXAMPLES / "python-app" / "app.py").read_bytes())
    _, lines = await build_ok(js, images, app, tar_gz(tmp_path))
    assert "-----> pyproject.toml: dependencies installed in their own cached layer" in lines
    assert any("Successfully installed itsdangerous" in l for l in step_output(lines, "itsdangerous==2.2.0"))
    (tmp_path / "app.py").write_bytes((EXAMPLES / "python-app" / "app.py").read_bytes() + b"# changed\n")
    data, lines = await build_ok(js, images, app, tar_gz(tmp_path))
    assert step_output(lines, "itsdangerous==2.2.0")[0] == "---> Using cache", lines
    await answer(data.image, "Hello from Berth (python)")


async def test_uv_app_installs_what_uv_lock_pins_without_dev_and_caches_it(builder, js, images):
    app = unique_app("uvapp")
    src = EXAMPLES / "uv-app"
    # A pyproject.toml never built before (the description differs), so nothing comes from
    # the cache; uv.lock still matches it (--locked checks the dependencies, not the text).
    pyproject = (src / "pyproject.toml").read_text().replace("A Berth example", f"Test {app}: a Berth example")
    venv = b"not a virtualenv: a developer's local .venv must stay out of the image"
    extra = {"pyproject.toml": pyproject.encode(), ".venv/bin/python": venv}
    data, lines = await build_ok(js, images, app, tar_gz(src, extra))
    assert data.stack == "python" and data.process_types == {"web": "python app.py"}
    assert "-----> Detected python app (pyproject.toml, uv.lock)" in lines
    sync = step_output(lines, "--no-install-project")
    assert "---> Using cache" not in sync and any("itsdangerous==2.2.0" in l for l in sync), sync
    await answer(data.image, "Hello from Berth (python, uv)")

    def installed() -> str:
        return docker.from_env().containers.run(
            data.image, ["python", "-c", "import sys, importlib.metadata as m; print(sys.prefix, "
                                     "sorted(f'{d.name}=={d.version}' for d in m.distributions()))"],
            remove=True).decode()
    out = await asyncio.to_thread(installed)
    assert "itsdangerous==2.2.0" in out and "pytest" not in out and "/app/.venv" in out, out

    code = (src / "app.py").read_bytes() + b"# changed\n"
    data, lines = await build_ok(js, images, app, tar_gz(src, {**extra, "app.py": code}))
    assert step_output(lines, "--no-install-project")[0] == "---> Using cache", lines
    await answer(data.image, "Hello from Berth (python, uv)")


async def test_uv_lock_out_of_date_fails_the_build(builder, js, tmp_path):
    app = unique_app("uvstale")
    src = EXAMPLES / "uv-app"
    pyproject = (src / "pyproject.toml").read_text().replace('"itsdangerous>=2.1"', '"itsdangerous>=2.1", "six"')
    env = await request_build(js, app, tar_gz(src, {"pyproject.toml": pyproject.encode()}))
    done = final(await build_events(js, env.data["build_id"]))
    assert done.type == events.BuildFailed.type
    lines = await build_log(js, app)
    assert any("needs to be updated" in l or "--locked" in l for l in lines), lines[-20:]


async def test_app_json_healthchecks_land_in_build_completed(builder, js, images):
    app_, _ = builder
    app = unique_app("appjson")
    app_json = json.dumps({"name": "site", "healthchecks": {"web": [
        {"type": "startup", "name": "home", "path": "/index.html", "content": "Hello", "attempts": 5, "wait": 2},
        {"type": "liveness", "path": "/"},
    ]}}).encode()
    data, lines = await build_ok(js, images, app, tar_gz(EXAMPLES / "static-site", {"app.json": app_json}))
    expected = {"web": [
        {"type": "startup", "name": "home", "path": "/index.html", "content": "Hello", "attempts": 5,
         "timeout": 5, "wait": 2, "initialDelay": 0},
        {"type": "liveness", "name": "liveness /", "path": "/", "content": None, "attempts": 3,
         "timeout": 5, "wait": 1, "initialDelay": 0},
    ]}
    assert data.healthchecks == expected
    assert "-----> app.json: health checks for web (2)" in lines
    row = await app_[service.POOL].fetchrow("SELECT healthchecks FROM builds WHERE id = $1", data.build_id)
    assert row["healthchecks"] == expected


async def test_malformed_app_json_fails_the_build_naming_the_field(builder, js):
    app = unique_app("badjson")
    app_json = json.dumps({"healthchecks": {"web": [{"path": "health"}]}}).encode()
    env = await request_build(js, app, tar_gz(EXAMPLES / "static-site", {"app.json": app_json}))
    done = final(await build_events(js, env.data["build_id"]))
    assert done.type == events.BuildFailed.type
    assert done.data["reason"] == "app.json: healthchecks.web[0].path must be a string starting with '/', got 'health'"


async def test_release_phase_command_is_a_process_type(builder, js, images):
    app = unique_app("release")
    data, lines = await build_ok(js, images, app, tar_gz(
        EXAMPLES / "static-site", {"Procfile": b"release: echo migrating\n"}))
    assert data.process_types == {"web": "busybox httpd -f -v -p $PORT -h /app", "release": "echo migrating"}
    assert "-----> Release phase: `release` runs once before the new release takes traffic" in lines
