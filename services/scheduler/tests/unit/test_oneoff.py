import pytest

from berth_scheduler.messaging.oneoff import parse_size


def test_size_is_rows_and_columns():
    assert parse_size([24, 80]) == (24, 80)
    assert parse_size(None) is None


@pytest.mark.parametrize("bad", [[24], [0, 80], [24, -1], ["24", "80"], [True, 80], [24, 80, 1], "24x80", [24, 10_001]])
def test_bad_sizes_are_refused(bad):
    with pytest.raises(ValueError, match=r"size must be \[rows, columns\]"):
        parse_size(bad)
