import pytest

from berth_common.secrets import generate_key, seal_config
from berth_scheduler.domain.model import Desired, InstanceSpec, ReleaseSpec, backoff_seconds, plan_slots


@pytest.fixture(autouse=True)
def key(monkeypatch):
    from berth_common import secrets
    monkeypatch.setenv("BERTH_SECRET_KEY", generate_key())
    secrets._fernet.cache_clear()
    yield
    secrets._fernet.cache_clear()


def release(v, types=None):
    return ReleaseSpec(release_id=f"r{v}", version=v, image="img", process_types=types or {"web": "run"},
                       config_sealed=seal_config({"A": "1"}))


def desired(target=None, deployed=None, failed=None, formation=None):
    return Desired(app="a", target=target, deployed=deployed, failed_version=failed, formation=formation or {},
                   announced=None, deleted=False)


def test_rollout_needed_only_for_a_new_unfailed_target():
    assert desired(target=release(1)).needs_rollout
    assert not desired(target=release(1), deployed=release(1)).needs_rollout
    assert not desired(target=release(2), deployed=release(1), failed=2).needs_rollout
    assert desired(target=release(3), deployed=release(1), failed=2).needs_rollout
    assert not desired().needs_rollout


def test_default_formation_is_one_web_and_no_other_types():
    r = release(1, {"web": "a", "worker": "b", "release": "migrate"})
    d = desired(target=r)
    assert d.scale(r, "web") == 1 and d.scale(r, "worker") == 0 and d.scale(r, "release") == 0
    assert d.scale(release(1, {"worker": "b"}), "web") == 0
    d = desired(target=r, formation={"worker": {"quantity": 2}, "web": {"quantity": 3, "memory": "256m"}})
    assert plan_slots(d, r) == [("web", 1), ("web", 2), ("web", 3), ("worker", 1), ("worker", 2)]
    assert d.limits("web") == {"memory": "256m"} and d.limits("worker") == {}


def test_instance_labels_carry_everything_needed_to_rebuild_state():
    spec = InstanceSpec("a", "web", 2, release(4), token="abc123")
    assert spec.instance == "web.2.abc123"
    assert spec.labels("p1") == {"berth.platform": "p1", "berth.app": "a", "berth.release": "r4", "berth.version": "4", "berth.process": "web",
                             "berth.index": "2", "berth.instance": "web.2.abc123",
                                  "berth.size": "memory=default,cpus=default"}
    assert spec.command == "run"
    oneoff = InstanceSpec("a", "run", 1, release(4), command_override="ls")
    assert oneoff.command == "ls" and oneoff.labels("p1")["berth.oneoff"] == "true"


def test_config_is_sealed_and_unsealed_with_the_key():
    r = ReleaseSpec(release_id="r", version=1, image="i", process_types={},
                    config_sealed=seal_config({"DATABASE_PASSWORD": "hunter2"}))
    assert "hunter2" not in r.config_sealed and "DATABASE_PASSWORD" not in r.config_sealed
    assert r.config() == {"DATABASE_PASSWORD": "hunter2"}


def test_backoff_doubles_from_one_second_to_five_minutes():
    assert [backoff_seconds(n) for n in (1, 2, 3, 4, 9, 10, 20)] == [1, 2, 4, 8, 256, 300, 300]
