"""Zero-downtime deploys under load (not a test; prints figures).

Starts its own embedded Berth, deploys the Python example with 3 web instances, then runs a
steady load of 150 requests/s through the router while it (1) deploys a new release and
(2) makes a config change; prints requests sent, failed (non-2xx or connection error — the
target is 0) and p50/p99 latency before and during each."""
from __future__ import annotations

import threading
import time

from common import HEADER, Api, Load, platform, python_app_copy, run_load_until


def main() -> None:
    with platform() as p:
        api = Api(p)
        app = "rolling"
        api("POST", "/apps", json={"name": app})
        src = python_app_copy()
        api.deploy(app, src)
        api("PATCH", f"/apps/{app}/formation", json={"updates": [{"type": "web", "quantity": 3}]})
        while len([d for d in api("GET", f"/apps/{app}/dynos") if d["state"] == "up"]) < 3:
            time.sleep(0.5)
        time.sleep(2)

        load = Load(p.router_url, f"{app}.localhost", rate=150)
        windows = []
        done = threading.Event()

        def operations():
            time.sleep(10)
            windows.append(load.start_window("during deploy"))
            (src / "app.py").write_text((src / "app.py").read_text().replace("Hello from Berth (python)", "v2"))
            t0 = time.monotonic()
            rel = api.deploy(app, src)
            windows[-1].name += f" ({time.monotonic() - t0:.0f} s, {rel['status']})"
            windows.append(load.start_window("during config change"))
            t0 = time.monotonic()
            api("PATCH", f"/apps/{app}/config-vars", json={"MESSAGE": "v3 config"})
            rel = api.wait_release(app, api.latest(app))
            windows[-1].name += f" ({time.monotonic() - t0:.0f} s, {rel['status']})"
            windows.append(load.start_window("after"))
            time.sleep(5)
            done.set()

        windows.append(load.start_window("before (steady)"))
        t = threading.Thread(target=operations, daemon=True)
        t.start()

        run_load_until(load, done)

        print(f"3 web instances, {load.rate:.0f} requests/s through the router")
        print(HEADER)
        for w in windows:
            print(w.row())
        total_sent = sum(w.sent for w in windows)
        total_failed = sum(w.failed for w in windows)
        print(f"total: {total_sent} sent, {total_failed} failed")
        errors = [e for w in windows for e in w.errors]
        if errors:
            print("first errors:", errors[:5])


if __name__ == "__main__":
    main()
