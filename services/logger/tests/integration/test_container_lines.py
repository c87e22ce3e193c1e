"""Output of Berth app containers, found by label and collected from the Docker engine."""
import asyncio
import json

from .conftest import query, run_container, running_logger, settings_for, wait_for

QUICK = """
import sys, time
for i in range(3):
    print(f"out {i}", flush=True)
    time.sleep(0.05)
    print(f"err {i}", file=sys.stderr, flush=True)
    time.sleep(0.05)
"""

# Three lines, a pause long enough to restart the logger, three more, then idle.
SLOW = """
import time
for i in range(3):
    print(f"first {i}", flush=True)
time.sleep(4)
for i in range(3):
    print(f"second {i}", flush=True)
time.sleep(300)
"""


async def lines_of(nc, app, n):
    async def check():
        lines = (await query(nc, app=app))["lines"]
        return lines if len(lines) >= n else None
    return await wait_for(check, timeout=30) or (await query(nc, app=app))["lines"]


async def test_a_quickly_exiting_container_is_collected_in_order(nats_url, database_url, nc, app_name, docker_client):
    tailed: asyncio.Queue = asyncio.Queue()

    async def on_tail(msg):
        tailed.put_nowait(json.loads(msg.data))
    sub = await nc.subscribe(f"berth.logtail.{app_name}", cb=on_tail)
    async with running_logger(settings_for(nats_url, database_url)):
        container = await run_container(docker_client, app_name, QUICK)
        lines = await lines_of(nc, app_name, 6)
        await asyncio.to_thread(container.wait, timeout=30)
    await sub.unsubscribe()

    assert [l["line"] for l in lines] == ["out 0", "err 0", "out 1", "err 1", "out 2", "err 2"]
    assert [l["stream"] for l in lines] == ["stdout", "stderr"] * 3
    assert {(l["source"], l["process"], l["instance"], l["app"]) for l in lines} == {
        ("app", "web", f"{app_name}.web.1", app_name)}
    times = [l["time"] for l in lines]
    assert times == sorted(times)
    # Every stored line also went out live on the tail subject.
    live = [tailed.get_nowait() for _ in range(tailed.qsize())]
    assert [l["id"] for l in live] == [l["id"] for l in lines]


async def test_a_logger_restart_does_not_duplicate_container_lines(nats_url, database_url, nc, app_name, docker_client):
    settings = settings_for(nats_url, database_url)
    async with running_logger(settings):
        await run_container(docker_client, app_name, SLOW, process="worker", n=2)
        first = await lines_of(nc, app_name, 3)
        assert [l["line"] for l in first] == ["first 0", "first 1", "first 2"]
    # The container keeps writing while no logger runs; the next one lists it as running,
    # resumes from its newest stored line (re-reading a little) and stores only what is new.
    await asyncio.sleep(1)
    async with running_logger(settings):
        lines = await lines_of(nc, app_name, 6)
        await asyncio.sleep(1.5)
        lines = (await query(nc, app=app_name))["lines"]
    assert [l["line"] for l in lines] == [f"first {i}" for i in range(3)] + [f"second {i}" for i in range(3)]
    assert lines[0]["id"] == first[0]["id"]
    assert {l["instance"] for l in lines} == {f"{app_name}.worker.2"}


async def test_containers_without_the_app_label_are_ignored(nats_url, database_url, nc, app_name, docker_client):
    async with running_logger(settings_for(nats_url, database_url)):
        c = await asyncio.to_thread(
            docker_client.containers.run, "berth/static:bookworm", ["echo", "not berth"],
            labels={"berth.process": "web", "other": app_name}, detach=True, network_mode="none")
        docker_client.created.append(c)
        labelled = await run_container(docker_client, app_name, "print('berth', flush=True)")
        lines = await lines_of(nc, app_name, 1)
        await asyncio.to_thread(labelled.wait, timeout=30)
    assert [l["line"] for l in lines] == ["berth"]
