"""The build worker: takes queued builds one at a time and turns a source archive into an
image, reporting every line of output to the build's log stream.

Level-triggered: it looks for queued builds at start-up, when woken by the consumer and on
a timer, so a missed wake-up only delays a build. State changes and their events go in one
transaction (status + outbox row); log lines go straight to the logs stream, and all of a
build's lines are published before the transaction that ends the build commits, so a
client that sees BuildCompleted/BuildFailed has every line available.
"""
from __future__ import annotations

import asyncio
import io
import logging
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from nats.js import JetStreamContext
from opentelemetry import trace

from berth_common import bus, events
from berth_common.names import InvalidAppName, validate_app_name
from berth_common.telemetry import context_from_traceparent, tracer

from .adapters import archive, builds_repo
from .adapters.docker_engine import DockerBuildError, DockerEngine
from .adapters.sources import fetch_source
from .config import BuilderSettings
from .domain.builds import BuildError, image_tag
from .domain.procfile import ProcfileError
from .domain.stacks import CA_IN_CONTEXT, MANIFESTS, BuildPlan, plan_build

log = logging.getLogger(__name__)

# A manifest (Procfile, package.json, app.json, ...) larger than this is refused.
MAX_MANIFEST_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ClaimedBuild:
    id: str
    app: str
    source_object: str
    restarted: bool


class BuildWorker:
    def __init__(self, pool: asyncpg.Pool, js: JetStreamContext, docker_engine: DockerEngine,
                 settings: BuilderSettings):
        self.pool = pool
        self.js = js
        self.docker = docker_engine
        self.settings = settings
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        requeued = await builds_repo.requeue_interrupted(self.pool)
        if requeued:
            log.warning("re-running %d build(s) interrupted by a builder stop: %s", len(requeued), requeued)
        await asyncio.gather(*(self._loop() for _ in range(self.settings.concurrency)))

    async def _loop(self) -> None:
        while True:
            # Cleared before looking, so a wake-up that arrives while we look is not lost.
            self._wake.clear()
            try:
                ran = await self.run_next()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("build worker failed; retrying")
                ran = False
                await asyncio.sleep(1)
            if ran:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_seconds)
            except asyncio.TimeoutError:
                pass

    async def run_next(self) -> bool:
        """Run the oldest queued build, if any; False when the queue is empty."""
        candidate = await builds_repo.next_queued(self.pool)
        if candidate is None:
            return False
        # Everything about this build, BuildStarted included, happens in the trace of the
        # event that requested it, so the outbox rows carry its trace id.
        with tracer().start_as_current_span(
            "build", context=context_from_traceparent(candidate["traceparent"]),
            kind=trace.SpanKind.INTERNAL, attributes={"berth.build": candidate["id"]},
        ) as span:
            async with self.pool.acquire() as conn, conn.transaction():
                row = await builds_repo.mark_building(conn, candidate["id"])
                if row is None:
                    return True  # another worker took it
                if not row["restarted"]:
                    await bus.add_to_outbox(conn, events.BuildStarted(app=row["app"], build_id=row["id"]))
            span.set_attribute("berth.app", row["app"])
            await self._run(ClaimedBuild(row["id"], row["app"], row["source_object"], row["restarted"]))
        return True

    async def _run(self, build: ClaimedBuild) -> None:
        progress: dict[str, str] = {}  # the stack, once detected, for a failure after it
        try:
            if build.restarted:
                await self._say(build, "-----> Restarting this build: the builder stopped during an earlier attempt")
            plan, image = await self._build(build, progress)
        except asyncio.CancelledError:
            # Shutting down: the build stays `building` and is re-run at the next start.
            raise
        except (BuildError, ProcfileError, archive.ArchiveRefused, DockerBuildError) as e:
            await self._fail(build, progress.get("stack"), str(e))
        except Exception as e:  # noqa: BLE001 - an internal error still ends the build
            log.exception("build %s failed with an internal error", build.id)
            await self._fail(build, progress.get("stack"), f"internal builder error: {e!r}")
        else:
            await self._say(build, f"-----> Build succeeded: image {image}")
            async with self.pool.acquire() as conn, conn.transaction():
                if await builds_repo.mark_succeeded(conn, build.id, plan.stack, image, plan.process_types,
                                                    plan.healthchecks):
                    await bus.add_to_outbox(conn, events.BuildCompleted(
                        app=build.app, build_id=build.id, image=image, stack=plan.stack,
                        process_types=plan.process_types, healthchecks=plan.healthchecks,
                        initial_formation=plan.formation,
                    ))

    async def _fail(self, build: ClaimedBuild, stack: str | None, reason: str) -> None:
        await self._say(build, f"-----> Build failed: {reason}")
        async with self.pool.acquire() as conn, conn.transaction():
            if await builds_repo.mark_failed(conn, build.id, stack, reason):
                await bus.add_to_outbox(conn, events.BuildFailed(app=build.app, build_id=build.id, reason=reason))

    async def _build(self, build: ClaimedBuild, progress: dict[str, str]) -> tuple[BuildPlan, str]:
        try:
            app = validate_app_name(build.app)
        except InvalidAppName as e:
            raise BuildError(str(e)) from e
        s = self.settings
        await self._say(build, f"-----> Fetching source archive {build.source_object}")
        data = await fetch_source(self.js, build.source_object, s.max_archive_bytes)
        workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix=f"berth-build-{app}-", dir=s.workdir))
        try:
            src = workdir / "src"
            src.mkdir()
            unpacked = await asyncio.to_thread(archive.unpack, data, src, s.max_archive_bytes, s.max_archive_entries)
            await self._say(build, f"-----> Unpacked {unpacked.entries} entries ({unpacked.bytes} bytes)")
            plan = await asyncio.to_thread(self._plan, src)
            progress["stack"] = plan.stack
            await self._say(build, f"-----> {plan.reason}")
            await self._say(build, "-----> Process types: " + ", ".join(
                f"{name} ({cmd if cmd is not None else 'image CMD'})" for name, cmd in plan.process_types.items()))
            if "release" in plan.process_types:
                await self._say(build, "-----> Release phase: `release` runs once before the new release takes traffic")
            for note in plan.notes:
                await self._say(build, f"-----> {note}")
            context_path = workdir / "context.tar"
            await asyncio.to_thread(self._write_context, src, plan, context_path)
            image = image_tag(app, build.id)
            await self._say(build, f"-----> Building image {image}")
            with open(context_path, "rb") as context:
                async for line in self.docker.build(
                    context, image, {"berth.app": app, "berth.build": build.id}, plan.build_args,
                ):
                    await self._say(build, line)
            return plan, image
        finally:
            await asyncio.to_thread(shutil.rmtree, workdir, True)

    def _plan(self, src: Path) -> BuildPlan:
        entries = [p for p in src.iterdir() if not p.is_symlink()]
        files = {p.name for p in entries if p.is_file()}
        dirs = {p.name for p in entries if p.is_dir()}
        procfile = _read_manifest(src, "Procfile") if "Procfile" in files else None
        texts = {name: _read_manifest(src, name) for name in MANIFESTS if name in files}
        return plan_build(files, procfile, self.settings.images, with_ca=self.settings.ca_bundle is not None,
                          dirs=dirs, texts=texts)

    def _write_context(self, src: Path, plan: BuildPlan, dest: Path) -> None:
        """The build context: the unpacked source, the generated Dockerfile (if any) and the
        CA bundle as CA_IN_CONTEXT (if configured). Symlinks stay symlinks (they were
        checked to stay inside the tree); nothing is dereferenced."""
        with tarfile.open(dest, "w") as tar:
            for entry in sorted(os.listdir(src)):
                if entry == CA_IN_CONTEXT and self.settings.ca_bundle is not None:
                    continue
                if entry == "Dockerfile" and plan.dockerfile is not None:
                    continue
                if entry in plan.exclude:
                    continue
                tar.add(src / entry, arcname=entry, recursive=True)
            if plan.dockerfile is not None:
                _add_bytes(tar, "Dockerfile", plan.dockerfile.encode())
            if self.settings.ca_bundle is not None:
                _add_bytes(tar, CA_IN_CONTEXT, self.settings.ca_bundle.read_bytes())

    async def _say(self, build: ClaimedBuild, line: str) -> None:
        """Publish one line of build output (awaited: lines arrive in order and before the
        build's final event)."""
        try:
            await bus.publish_log(self.js, events.LogLine(
                app=build.app, source="build", process="build", instance=build.id, line=line,
            ))
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a lost log line must not fail the build
            log.warning("build %s: could not publish a log line: %s", build.id, line, exc_info=True)


def _read_manifest(src: Path, name: str) -> str:
    """The text of a top-level file (not a symlink; checked by the caller), capped."""
    path = src / name
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise BuildError(f"{name} is larger than {MAX_MANIFEST_BYTES} bytes")
    return path.read_text(encoding="utf-8", errors="replace")


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))
