"""Scaling under load (not a test; prints figures).

Starts its own embedded Berth, deploys the Python example, and with a steady load of
100 requests/s through the router measures the time from `ps:scale web=1` → `web=8` until
all 8 instances receive traffic, then back to web=1 until only one does; failed requests
(non-2xx or connection errors) are counted in each phase."""
from __future__ import annotations

import threading
import time

from common import HEADER, Api, Load, platform, python_app_copy, run_load_until


def main() -> None:
    with platform() as p:
        api = Api(p)
        app = "scaling"
        api("POST", "/apps", json={"name": app})
        api.deploy(app, python_app_copy())
        load = Load(p.router_url, f"{app}.localhost", rate=100)
        results: list[tuple[str, float]] = []
        windows = []
        done = threading.Event()

        def distinct_in(window, seconds=2.0) -> int:
            before = len(window.instances)
            window.instances.clear()
            time.sleep(seconds)
            return len(window.instances) or before

        def operations():
            time.sleep(5)
            w = load.start_window("scale 1 → 8")
            windows.append(w)
            t0 = time.monotonic()
            api("PATCH", f"/apps/{app}/formation", json={"updates": [{"type": "web", "quantity": 8}]})
            while len(w.instances) < 8:
                time.sleep(0.05)
            results.append(("web=1 → web=8: all 8 serving", time.monotonic() - t0))
            time.sleep(3)
            w = load.start_window("scale 8 → 1")
            windows.append(w)
            t0 = time.monotonic()
            api("PATCH", f"/apps/{app}/formation", json={"updates": [{"type": "web", "quantity": 1}]})
            while True:
                w.instances.clear()
                time.sleep(0.5)
                if len(w.instances) == 1 and len([d for d in api("GET", f"/apps/{app}/dynos")]) == 1:
                    break
            results.append(("web=8 → web=1: one serving, 7 stopped", time.monotonic() - t0))
            windows.append(load.start_window("after"))
            time.sleep(3)
            done.set()

        threading.Thread(target=operations, daemon=True).start()

        run_load_until(load, done)

        print(f"{load.rate:.0f} requests/s through the router")
        for name, seconds in results:
            print(f"{name:<42}{seconds:>8.2f} s")
        print(HEADER)
        for w in windows:
            print(w.row())


if __name__ == "__main__":
    main()
