"""The Docker runtime backend against the real engine."""
import asyncio
import uuid

import docker
import pytest

from berth_scheduler.adapters.docker_runtime import DockerRuntime, network_name
from berth_scheduler.domain.model import InstanceSpec, ReleaseSpec


@pytest.fixture
def app():
    name = f"rt{uuid.uuid4().hex[:8]}"
    yield name
    client = docker.from_env()
    for c in client.containers.list(all=True, filters={"label": f"berth.app={name}"}):
        c.remove(force=True)
    for n in client.networks.list(names=[network_name(name)]):
        n.remove()


async def test_start_list_stop_with_labels_limits_and_confinement(app):
    rt = DockerRuntime(memory="128m", cpus=0.5, pids=64)
    release = ReleaseSpec(release_id="r1", version=1, image="berth/python:bookworm",
                          process_types={"web": "python3 -m http.server $PORT"}, config_sealed="unused")
    spec = InstanceSpec(app, "web", 1, release)
    inst = await rt.start(spec, 5000, {"GREETING": "hi"})
    assert inst.running and inst.ip and inst.instance == spec.instance and inst.version == 1 and inst.index == 1

    # It accepts connections on PORT at its IP on the app's own network.
    for _ in range(40):
        try:
            _, w = await asyncio.open_connection(inst.ip, 5000)
            w.close()
            break
        except OSError:
            await asyncio.sleep(0.25)
    else:
        pytest.fail("the instance never accepted connections")

    attrs = docker.from_env().containers.get(inst.container_id).attrs
    host = attrs["HostConfig"]
    assert host["CapDrop"] == ["ALL"] and "no-new-privileges:true" in host["SecurityOpt"]
    assert host["Memory"] == 128 * 2**20 and host["PidsLimit"] == 64 and host["NanoCpus"] == 5 * 10**8
    assert not host["Privileged"]
    env = dict(e.split("=", 1) for e in attrs["Config"]["Env"])
    assert env["PORT"] == "5000" and env["GREETING"] == "hi"
    assert list(attrs["NetworkSettings"]["Networks"]) == [network_name(app)]
    # Each app network is a /24 of Berth's own pool (Docker's default pools run out at ~30).
    subnet = docker.from_env().networks.get(network_name(app)).attrs["IPAM"]["Config"][0]["Subnet"]
    assert subnet.startswith("172.31.") and subnet.endswith("/24")

    listed = await rt.list(app)
    assert [(i.instance, i.running) for i in listed] == [(spec.instance, True)]
    await rt.stop(inst.container_id, grace_s=2)
    assert await rt.list(app) == []
    await rt.remove_network(app)


async def test_an_exited_instance_reports_its_exit_code(app):
    rt = DockerRuntime()
    release = ReleaseSpec(release_id="r1", version=1, image="berth/static:bookworm",
                          process_types={"web": "echo bye; exit 7"}, config_sealed="unused")
    inst = await rt.start(InstanceSpec(app, "web", 1, release), 5000, {})
    for _ in range(40):
        cur = await rt.get(inst.container_id)
        if not cur.running:
            break
        await asyncio.sleep(0.25)
    assert not cur.running and cur.exit_code == 7
    assert "bye" in await rt.logs_tail(inst.container_id)
    assert await rt.wait(inst.container_id, 5) == 7


async def test_per_process_limits_override_the_defaults(app):
    rt = DockerRuntime(memory="512m", cpus=1, pids=128)
    release = ReleaseSpec(release_id="r1", version=1, image="berth/static:bookworm",
                          process_types={"worker": "sleep 30"}, config_sealed="unused")
    inst = await rt.start(InstanceSpec(app, "worker", 1, release), 5000, {}, {"memory": "64m", "cpus": 0.25})
    host = docker.from_env().containers.get(inst.container_id).attrs["HostConfig"]
    assert host["Memory"] == 64 * 2**20 and host["NanoCpus"] == 25 * 10**7 and host["PidsLimit"] == 128
    await rt.stop(inst.container_id, 0)


async def test_instances_started_at_once_share_one_network_of_exactly_the_apps_name(app):
    rt = DockerRuntime()
    client = docker.from_env()
    # Another app whose name starts with this one's: its network is not this app's.
    longer = app + "x"
    other = client.networks.create(network_name(longer), driver="bridge")
    try:
        release = ReleaseSpec(release_id="r1", version=1, image="berth/static:bookworm",
                              process_types={"web": "sleep 30"}, config_sealed="unused")
        started = await asyncio.gather(*(rt.start(InstanceSpec(app, "web", i, release), 5000, {}) for i in range(1, 5)))
        nets = [n for n in client.networks.list(names=[network_name(app)]) if n.name == network_name(app)]
        assert len(nets) == 1
        for inst in started:
            attached = client.containers.get(inst.container_id).attrs["NetworkSettings"]["Networks"]
            assert list(attached) == [network_name(app)]
        for inst in started:
            await rt.stop(inst.container_id, 0)
        await rt.remove_network(app)
        assert [n.name for n in client.networks.list(names=[network_name(longer)])] == [network_name(longer)]
    finally:
        other.remove()


async def test_an_attached_one_off_takes_stdin_and_reports_its_exit_code(app):
    rt = DockerRuntime()
    release = ReleaseSpec(release_id="r1", version=1, image="berth/static:bookworm",
                          process_types={}, config_sealed="unused")
    spec = InstanceSpec(app, "run", 1, release, command_override="read line; echo got $line; echo oops >&2; exit 5")
    inst, io = await rt.start_attached(spec, 5000, {}, None, tty=False)
    try:
        await asyncio.to_thread(io.write, b"hello\n")
        await asyncio.to_thread(io.close_stdin)
        frames = await asyncio.to_thread(lambda: list(io.frames()))
        out = b"".join(d for s, d in frames if s == "stdout")
        err = b"".join(d for s, d in frames if s == "stderr")
        assert out == b"got hello\n" and err == b"oops\n"
        assert await rt.wait(inst.container_id, 10) == 5
    finally:
        io.close()
        await rt.stop(inst.container_id, 0)
