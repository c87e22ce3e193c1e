import json

import pytest

from berth_builder.domain.app_json import AppJsonError, parse_app_json
from berth_builder.domain.builds import BuildError
from berth_builder.domain.stacks import BaseImages, plan_build


def checks(*items, process="web"):
    return json.dumps({"healthchecks": {process: list(items)}})


def test_full_check_is_kept():
    check = {"type": "readiness", "name": "ready", "path": "/health", "content": "ok", "attempts": 5,
             "timeout": 2, "wait": 2, "initialDelay": 1}
    assert parse_app_json(checks(check)).healthchecks == {"web": [check]}


def test_defaults_are_filled_in():
    parsed = parse_app_json(checks({"path": "/health"}, {"type": "liveness", "timeout": 0.5}))
    assert parsed.healthchecks == {"web": [
        {"type": "startup", "name": "startup /health", "path": "/health", "content": None,
         "attempts": 3, "timeout": 5, "wait": 1, "initialDelay": 0},
        {"type": "liveness", "name": "liveness /", "path": "/", "content": None,
         "attempts": 3, "timeout": 0.5, "wait": 1, "initialDelay": 0},
    ]}
    assert parsed.notes == []


def test_other_sections_are_ignored():
    text = json.dumps({"name": "shop", "formation": {"web": {"quantity": 2}},
                       "scripts": {"dokku": {"predeploy": "x"}}, "env": {"A": "b"}})
    assert parse_app_json(text).healthchecks == {}
    assert parse_app_json(json.dumps({"healthchecks": {}})).healthchecks == {}


def test_unsupported_fields_are_dropped_with_a_note():
    parsed = parse_app_json(checks({"path": "/", "command": ["true"], "port": 8080}))
    assert "command" not in parsed.healthchecks["web"][0]
    assert parsed.notes == ["app.json: healthchecks.web[0]: ignoring field(s) Berth does not support: command, port"]


@pytest.mark.parametrize("text, message", [
    ("{not json", "app.json: invalid JSON at line 1 column 2"),
    ("[]", "app.json: must be a JSON object, got a list"),
    (json.dumps({"healthchecks": []}), "app.json: healthchecks must be an object"),
    (json.dumps({"healthchecks": {"web": {"path": "/"}}}), "app.json: healthchecks.web must be a list of checks, got an object"),
    (json.dumps({"healthchecks": {"we b": []}}), "app.json: healthchecks.we b: invalid process type name 'we b'"),
    (checks("/health"), "app.json: healthchecks.web[0] must be an object, got a string"),
    (checks({"type": "smoke"}), "app.json: healthchecks.web[0].type must be one of startup, liveness, readiness, got 'smoke'"),
    (checks({"path": "health"}), "app.json: healthchecks.web[0].path must be a string starting with '/', got 'health'"),
    (checks({"path": 1}), "app.json: healthchecks.web[0].path must be a string starting with '/', got 1"),
    (checks({}, {"content": 200}), "app.json: healthchecks.web[1].content must be a string, got a number"),
    (checks({"attempts": 0}), "app.json: healthchecks.web[0].attempts must be an integer >= 1, got 0"),
    (checks({"attempts": "3"}), "app.json: healthchecks.web[0].attempts must be an integer >= 1, got '3'"),
    (checks({"attempts": True}), "app.json: healthchecks.web[0].attempts must be an integer >= 1, got True"),
    (checks({"timeout": 0}), "app.json: healthchecks.web[0].timeout must be a number of seconds > 0, got 0"),
    (checks({"wait": -1}), "app.json: healthchecks.web[0].wait must be a number of seconds >= 0, got -1"),
    (checks({"initialDelay": "5s"}), "app.json: healthchecks.web[0].initialDelay must be a number of seconds >= 0, got '5s'"),
    (checks({"name": 3}, process="worker"), "app.json: healthchecks.worker[0].name must be a string, got a number"),
])
def test_malformed_app_json_names_the_field(text, message):
    with pytest.raises(AppJsonError) as e:
        parse_app_json(text)
    assert str(e.value).startswith(message), str(e.value)
    assert isinstance(e.value, BuildError)  # so the build fails with this message


def test_plan_carries_healthchecks_and_notes():
    text = json.dumps({"healthchecks": {"web": [{"path": "/health", "content": "ok"}],
                                        "worker": [{"type": "liveness"}]}})
    plan = plan_build({"index.html", "app.json"}, None, BaseImages(), with_ca=False, texts={"app.json": text})
    assert plan.healthchecks["web"][0]["path"] == "/health"
    assert plan.notes == [
        "app.json: health checks declared for 'worker', which is not a process type",
        "app.json: health checks for web (1), worker (1)",
    ]


def test_plan_fails_on_a_bad_app_json():
    with pytest.raises(AppJsonError, match=r"app.json: healthchecks.web\[0\].path"):
        plan_build({"index.html", "app.json"}, None, BaseImages(), with_ca=False,
                   texts={"app.json": checks({"path": "x"})})


# --- formation ---------------------------------------------------------------------------

def test_formation_quantities_are_read_and_size_is_noted():
    parsed = parse_app_json(json.dumps({"formation": {"web": {"quantity": 2, "size": "standard-1X"},
                                                      "worker": {"quantity": 0}}}))
    assert parsed.formation == {"web": 2, "worker": 0}
    assert parsed.notes == ["app.json: formation.web: ignoring field(s) Berth does not support: size "
                            "(set memory and CPUs with `berth ps:resize`)"]


@pytest.mark.parametrize("formation, message", [
    ([], r"app.json: formation must be an object of process type -> \{\"quantity\": N\}, got a list"),
    ({"web": 2}, r"app.json: formation.web must be an object like \{\"quantity\": 1\}, got a number"),
    ({"web": {"quantity": -1}}, r"app.json: formation.web.quantity must be an integer from 0 to 100, got -1"),
    ({"web": {"quantity": "2"}}, r"app.json: formation.web.quantity must be an integer from 0 to 100, got '2'"),
    ({"web": {"quantity": 101}}, r"app.json: formation.web.quantity must be an integer from 0 to 100, got 101"),
    ({"web app": {"quantity": 1}}, r"app.json: formation.web app: invalid process type name 'web app'"),
])
def test_bad_formation_names_the_field(formation, message):
    with pytest.raises(AppJsonError, match=message):
        parse_app_json(json.dumps({"formation": formation}))


def test_formation_reaches_the_plan_for_process_types_that_run():
    app_json = json.dumps({"formation": {"web": {"quantity": 2}, "worker": {"quantity": 1},
                                         "release": {"quantity": 1}, "clock": {"quantity": 1}}})
    plan = plan_build({"requirements.txt", "Procfile", "app.json"},
                      "web: python app.py\nworker: python worker.py\nrelease: python migrate.py\n",
                      BaseImages(), with_ca=False, texts={"app.json": app_json})
    assert plan.formation == {"web": 2, "worker": 1}
    assert "app.json: formation for 'release', which is not a process type that runs" in plan.notes
    assert "app.json: formation for 'clock', which is not a process type that runs" in plan.notes
    assert "app.json: initial formation web=2 worker=1" in plan.notes
