from berth_api.domain.releases import deploy_description, may_move_build
from berth_api.domain.tokens import hash_token, new_token


def test_tokens_are_random_and_stored_as_hashes():
    a, b = new_token(), new_token()
    assert a != b and a.startswith("berth_") and len(a) > 40
    assert hash_token(a) == hash_token(a) != hash_token(b)
    assert a not in hash_token(a)


def test_build_status_never_moves_backwards():
    assert may_move_build("pending", "building")
    assert may_move_build("building", "succeeded")
    assert may_move_build("pending", "failed")
    assert not may_move_build("succeeded", "building")
    assert not may_move_build("failed", "succeeded")
    assert not may_move_build("building", "building")


def test_deploy_description_names_the_source():
    assert deploy_description("0b1c2d3e-0000", "3f2a1c9d8e") == "Deploy 3f2a1c9"
    assert deploy_description("0b1c2d3e-0000", None) == "Deploy 0b1c2d3"
