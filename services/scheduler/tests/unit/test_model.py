from berth_scheduler.domain.model import Desired, Instance, ReleaseSpec, missing_instances, wanted_instance_ids


def release(v, types=None):
    return ReleaseSpec(release_id=f"r{v}", version=v, image="img", process_types=types or {"web": "run"}, config={})


def desired(target=None, deployed=None, failed=None, formation=None):
    return Desired(app="a", target=target, deployed=deployed, failed_version=failed, formation=formation or {},
                   announced=None, deleted=False)


def inst(instance, version, running=True, process="web"):
    return Instance(container_id=instance, app="a", process=process, instance=instance, version=version,
                    running=running, ip="10.0.0.2")


def test_rollout_needed_only_for_a_new_unfailed_target():
    assert desired(target=release(1)).needs_rollout
    assert not desired(target=release(1), deployed=release(1)).needs_rollout
    assert not desired(target=release(2), deployed=release(1), failed=2).needs_rollout
    assert desired(target=release(3), deployed=release(1), failed=2).needs_rollout
    assert not desired().needs_rollout


def test_default_formation_is_one_web_and_no_other_types():
    r = release(1, {"web": "a", "worker": "b"})
    d = desired(target=r)
    assert d.scale(r, "web") == 1 and d.scale(r, "worker") == 0
    assert d.scale(release(1, {"worker": "b"}), "web") == 0
    assert desired(target=r, formation={"worker": 2, "web": 3}).scale(r, "worker") == 2


def test_missing_instances_counts_only_running_instances_of_the_release():
    r = release(2)
    d = desired(target=r, formation={"web": 2})
    assert [s.instance for s in missing_instances(d, r, [])] == ["web.1-v2", "web.2-v2"]
    actual = [inst("web.1-v2", 2), inst("web.2-v2", 2, running=False), inst("web.1-v1", 1)]
    assert [s.instance for s in missing_instances(d, r, actual)] == ["web.2-v2"]
    assert wanted_instance_ids(d, r) == {"web.1-v2", "web.2-v2"}


def test_instance_labels_carry_everything_needed_to_rebuild_state():
    r = release(4)
    spec = missing_instances(desired(target=r), r, [])[0]
    assert spec.labels() == {"berth.app": "a", "berth.release": "r4", "berth.version": "4",
                             "berth.process": "web", "berth.instance": "web.1-v4"}
    assert spec.command == "run"
