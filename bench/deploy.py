"""Deploy time, Berth vs the bare equivalent, measured side by side in one run (not a test).

Starts its own embedded Berth in a temporary directory (unless --api-url/--token point at a
running one), then for the Python example:
  1. cold deploy: upload start → first 200 from the new release through the router;
  2. code-only change: the same, reusing the dependency layer;
and, in the same run, the bare equivalent of each: `docker build` + `docker run` + first 200
from the container. Prints seconds and the ratio Berth / bare.
"""
from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "cli" / "src"))


def tgz(directory: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for child in sorted(directory.iterdir()):
            tar.add(child, arcname=child.name)
    return buf.getvalue()


def wait_200(url: str, headers: dict, expect: str, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r = requests.get(url, headers=headers, timeout=2)
            if r.status_code == 200 and expect in r.text:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise SystemExit(f"no 200 with {expect!r} from {url} within {timeout} s")


def berth_deploy(api: str, token: str, router: str, app: str, src: Path, expect: str) -> float:
    h = {"Authorization": f"Bearer {token}"}
    t0 = time.monotonic()
    r = requests.post(f"{api}/apps/{app}/builds", data=tgz(src), headers={**h, "Content-Type": "application/gzip"}, timeout=300)
    r.raise_for_status()
    wait_200(router, {"Host": f"{app}.localhost"}, expect)
    return time.monotonic() - t0


def bare_deploy(src: Path, expect: str, ca: str) -> float:
    """What a person would do by hand with the same Dockerfile the builder generates."""
    tag = f"bench-bare:{uuid.uuid4().hex[:8]}"
    ctx = Path(tempfile.mkdtemp())
    shutil.copytree(src, ctx, dirs_exist_ok=True)
    shutil.copy(ca, ctx / "berth-ca.crt")
    (ctx / "Dockerfile").write_text(
        "FROM berth/python:bookworm\nWORKDIR /app\nCOPY berth-ca.crt /etc/ssl/certs/berth-build-ca.crt\n"
        "RUN python3 -m venv /app/.venv\nCOPY requirements.txt /app/requirements.txt\n"
        "RUN PIP_CERT=/etc/ssl/certs/berth-build-ca.crt /app/.venv/bin/pip install -r requirements.txt\n"
        "COPY . /app\nENV PATH=/app/.venv/bin:$PATH PORT=5000\nCMD [\"python\", \"app.py\"]\n")
    t0 = time.monotonic()
    subprocess.run(["docker", "build", "-q", "-t", tag, str(ctx)], check=True, capture_output=True)
    cid = subprocess.run(["docker", "run", "-d", "--rm", tag], check=True, capture_output=True, text=True).stdout.strip()
    ip = subprocess.run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", cid],
                        check=True, capture_output=True, text=True).stdout.strip()
    wait_200(f"http://{ip}:5000/", {}, expect)
    elapsed = time.monotonic() - t0
    subprocess.run(["docker", "rm", "-f", cid], capture_output=True)
    shutil.rmtree(ctx, ignore_errors=True)
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ca", default="/etc/ssl/certs/ca-certificates.crt")
    args = ap.parse_args()

    from berth_cli.platform import Platform, free_port

    data = Path(tempfile.mkdtemp(prefix="berth-bench-"))
    platform = Platform(data_dir=data, api_port=free_port(), router_port=free_port(),
                        extra_env={"BERTH_BUILD_CA_BUNDLE": args.ca})
    platform.start()
    try:
        api, token, router = platform.api_url, platform.admin_token, platform.router_url
        app = f"bench{uuid.uuid4().hex[:6]}"
        requests.post(f"{api}/apps", json={"name": app}, headers={"Authorization": f"Bearer {token}"}, timeout=30).raise_for_status()
        src = Path(tempfile.mkdtemp()) / "app"
        shutil.copytree(ROOT / "examples" / "python-app", src)
        # Make the dependency layer cold for both sides: a requirements file never built before.
        (src / "requirements.txt").write_text(f"itsdangerous==2.2.0\n# bench {app}\n")

        rows = []
        cold = berth_deploy(api, token, router, app, src, "Hello from Berth (python)")
        bare_src = Path(tempfile.mkdtemp()) / "app"
        shutil.copytree(src, bare_src)
        (bare_src / "requirements.txt").write_text(f"itsdangerous==2.2.0\n# bare {app}\n")
        bare_cold = bare_deploy(bare_src, "Hello from Berth (python)", args.ca)
        rows.append(("cold deploy", cold, bare_cold))

        for s in (src, bare_src):
            (s / "app.py").write_text((s / "app.py").read_text().replace("Hello from Berth (python)", "Hello, changed"))
        warm = berth_deploy(api, token, router, app, src, "Hello, changed")
        bare_warm = bare_deploy(bare_src, "Hello, changed", args.ca)
        rows.append(("code-only change", warm, bare_warm))

        print(f"{'deploy':<18}{'berth (s)':>11}{'bare (s)':>11}{'ratio':>8}")
        for name, b, bare in rows:
            print(f"{name:<18}{b:>11.2f}{bare:>11.2f}{b / bare:>8.2f}")
        print("berth: upload start → first 200 through the router; bare: docker build + docker run + first 200")
    finally:
        platform.stop()
        ids = subprocess.run(["docker", "ps", "-aq", "--filter", "label=berth.app"], capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
