import pytest

from berth_builder.domain.procfile import ProcfileError, parse_procfile


def test_parses_entries_ignoring_comments_and_blank_lines():
    text = "# processes\n\nweb: python app.py --port $PORT\n   \nworker_2:  celery -A app worker  \n# end\n"
    assert parse_procfile(text) == {"web": "python app.py --port $PORT", "worker_2": "celery -A app worker"}


def test_command_may_contain_colons():
    assert parse_procfile("web: gunicorn app:app -b 0.0.0.0:$PORT") == {"web": "gunicorn app:app -b 0.0.0.0:$PORT"}


def test_empty_procfile_has_no_types():
    assert parse_procfile("# nothing\n\n") == {}


@pytest.mark.parametrize("text, expected", [
    ("web: a\nworker b\n", "Procfile line 2: expected `name: command`"),
    ("\n# c\nweb app: run\n", "Procfile line 3: invalid process type name 'web app'"),
    ("we.b: run\n", "Procfile line 1: invalid process type name 'we.b'"),
    (": run\n", "Procfile line 1: invalid process type name ''"),
    ("web: a\n\nweb: b\n", "Procfile line 3: process type 'web' is declared twice"),
    ("web: a\nworker:   \n", "Procfile line 2: process type 'worker' has an empty command"),
])
def test_bad_lines_are_reported_with_their_number(text, expected):
    with pytest.raises(ProcfileError) as e:
        parse_procfile(text)
    assert str(e.value).startswith(expected)
