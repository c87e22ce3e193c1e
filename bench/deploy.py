"""Deploy time, Berth vs the bare equivalent, measured side by side in one run (not a test).

Starts its own embedded Berth, then for the Python example:
  1. cold deploy (a dependency set never built before): upload start → first 200 from the
     new release through the router;
  2. code-only change: the same, reusing the dependency layer;
and, in the same run, the bare equivalent of each: `docker build` of the very Dockerfile
Berth generated (read back from the image) + `docker run` + first 200 from the container,
also with a never-built dependency set for the cold case. Prints seconds and the ratio."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import requests

from common import Api, platform, python_app_copy


def wait_200(url: str, headers: dict, expect: str, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r = requests.get(url, headers=headers, timeout=2)
            if r.status_code == 200 and expect in r.text:
                return
        except requests.RequestException:
            pass
        time.sleep(0.02)
    raise SystemExit(f"no 200 with {expect!r} from {url} within {timeout} s")


def berth_deploy(api: Api, router: str, app: str, src: Path, expect: str) -> float:
    from common import tgz
    t0 = time.monotonic()
    api("POST", f"/apps/{app}/builds", data=tgz(src), headers={"Content-Type": "application/gzip"})
    wait_200(router, {"Host": f"{app}.localhost"}, expect)
    return time.monotonic() - t0


def bare_deploy(src: Path, dockerfile: str, ca: str, expect: str) -> float:
    tag = f"bench-bare:{uuid.uuid4().hex[:8]}"
    ctx = Path(tempfile.mkdtemp())
    shutil.copytree(src, ctx, dirs_exist_ok=True)
    shutil.copy(ca, ctx / "berth-ca.crt")
    (ctx / "Dockerfile").write_text(dockerfile)
    t0 = time.monotonic()
    subprocess.run(["docker", "build", "-q", "-t", tag, str(ctx)], check=True, capture_output=True)
    cid = subprocess.run(["docker", "run", "-d", "-e", "PORT=5000", tag], check=True, capture_output=True,
                         text=True).stdout.strip()
    ip = subprocess.run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", cid],
                        check=True, capture_output=True, text=True).stdout.strip()
    wait_200(f"http://{ip}:5000/", {}, expect)
    elapsed = time.monotonic() - t0
    subprocess.run(["docker", "rm", "-f", cid], capture_output=True)
    subprocess.run(["docker", "rmi", tag], capture_output=True)
    shutil.rmtree(ctx, ignore_errors=True)
    return elapsed


def main() -> None:
    import argparse
    import statistics

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each case; medians are printed")
    args = ap.parse_args()
    ca = "/etc/ssl/certs/ca-certificates.crt"
    cold, bare_cold, warm, bare_warm = [], [], [], []
    with platform() as p:
        api = Api(p)
        app = f"bench{uuid.uuid4().hex[:6]}"
        api("POST", "/apps", json={"name": app})
        src, bare_src = python_app_copy(), python_app_copy()
        dockerfile = None
        for _ in range(args.repeat):
            # Cold for both sides: requirements files never built before on this engine.
            tag = uuid.uuid4().hex[:8]
            (src / "requirements.txt").write_text(f"itsdangerous==2.2.0\n# berth {tag}\n")
            (bare_src / "requirements.txt").write_text(f"itsdangerous==2.2.0\n# bare {tag}\n")
            cold.append(berth_deploy_text(api, p.router_url, app, src, bare_src, f"cold {tag}"))
            if dockerfile is None:
                image = api("GET", f"/apps/{app}/releases")[0]["image"]
                dockerfile = subprocess.run(["docker", "run", "--rm", "--entrypoint", "cat", image, "/app/Dockerfile"],
                                            check=True, capture_output=True, text=True).stdout
            bare_cold.append(bare_deploy(bare_src, dockerfile, ca, f"cold {tag}"))
            # A code-only change: the dependency layer comes from the cache on both sides.
            tag = uuid.uuid4().hex[:8]
            warm.append(berth_deploy_text(api, p.router_url, app, src, bare_src, f"warm {tag}"))
            bare_warm.append(bare_deploy(bare_src, dockerfile, ca, f"warm {tag}"))

    med = statistics.median
    print(f"{'deploy (median of ' + str(args.repeat) + ')':<26}{'berth (s)':>11}{'bare (s)':>11}{'ratio':>8}")
    for name, b, bare in (("cold (new dependencies)", cold, bare_cold), ("code-only change", warm, bare_warm)):
        print(f"{name:<26}{med(b):>11.2f}{med(bare):>11.2f}{med(b) / med(bare):>8.2f}"
              f"   berth runs {', '.join(f'{x:.2f}' for x in b)}; bare runs {', '.join(f'{x:.2f}' for x in bare)}")
    print("berth: upload start → first 200 through the router (build, release, rollout, routing);")
    print("bare: docker build of the same Dockerfile + docker run + first 200 from the container")


def berth_deploy_text(api: Api, router: str, app: str, src: Path, bare_src: Path, message: str) -> float:
    """Set the page text in both copies (a code change), deploy with Berth, time to the new text."""
    for s in (src, bare_src):
        app_py = s / "app.py"
        text = app_py.read_text()
        start = text.index('MESSAGE = os.environ.get("MESSAGE", "') + len('MESSAGE = os.environ.get("MESSAGE", "')
        end = text.index('")', start)
        app_py.write_text(text[:start] + message + text[end:])
    return berth_deploy(api, router, app, src, message)


if __name__ == "__main__":
    main()
