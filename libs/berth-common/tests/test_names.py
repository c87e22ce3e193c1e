import pytest

from berth_common.names import InvalidAppName, validate_app_name


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
