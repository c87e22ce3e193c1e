import pytest

from berth_common.names import InvalidAppName, InvalidDyno, dyno_matches, validate_app_name, validate_dyno


@pytest.mark.parametrize("name", ["a", "myapp", "my-app-2", "a" * 30, "x1"])
def test_valid_names(name):
    assert validate_app_name(name) == name


@pytest.mark.parametrize("name,why", [
    ("", "required"), (None, "required"), (3, "required"), ("a" * 31, "longer than 30"),
    ("MyApp", "lowercase"), ("1app", "starting with a letter"), ("app-", "ending with a dash"),
    ("-app", "starting"), ("my_app", "lowercase letters"), ("my.app", "lowercase letters"),
    ("a--b", "'--'"), ("app\n", "invalid"), ("../etc", "invalid"),
])
def test_invalid_names_say_why(name, why):
    with pytest.raises(InvalidAppName) as e:
        validate_app_name(name)
    assert why in str(e.value)


# --- dyno filters ------------------------------------------------------------------------

@pytest.mark.parametrize("dyno", ["web", "worker_2", "web.1", "web.12.a1b2c3"])
def test_valid_dyno_filters(dyno):
    assert validate_dyno(dyno) == dyno


@pytest.mark.parametrize("dyno", ["", "web 1", "web.", "web.one", ".1", "web.1.", None, 3])
def test_invalid_dyno_filters(dyno):
    with pytest.raises(InvalidDyno, match="give a process type"):
        validate_dyno(dyno)


@pytest.mark.parametrize("dyno, process, instance, match", [
    ("web", "web", "web.1.abc", True),
    ("web", "worker", "worker.1.abc", False),
    ("web.1", "web", "web.1.abc", True),
    ("web.1", "web", "web.12.abc", False),
    ("web.1.abc", "web", "web.1.abc", True),
    ("web", None, None, False),
])
def test_dyno_matches(dyno, process, instance, match):
    assert dyno_matches(dyno, process, instance) is match
