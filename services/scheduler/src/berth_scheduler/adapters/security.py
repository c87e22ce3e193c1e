"""The one place that decides what an app container may do."""
from __future__ import annotations


def container_security_options(*, memory: str, cpus: float, pids: int) -> dict:  # noqa: D401
    """docker-py `containers.run/create` keyword arguments that confine an app container:
    no Linux capabilities, no privilege gain through setuid binaries, bounded memory, CPU
    and process count, and an init process so signals reach the app and zombies are reaped."""
    return {
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "mem_limit": memory,
        "memswap_limit": memory,
        "nano_cpus": int(cpus * 1e9),
        "pids_limit": pids,
        "init": True,
        "privileged": False,
    }
