"""The test clock: an offset stored in the database, shared by every process."""

from datetime import timedelta

import pytest

from csp.bootstrap import bootstrap
from csp.clock import StoredOffsetClock
from csp.settings import Settings


def test_the_test_clock_is_shared_through_the_store_and_only_moves_forward(tmp_path):
    settings = Settings(data_dir=tmp_path, test_mode=True)
    a = bootstrap(settings, load_catalog=False)
    b = bootstrap(settings, load_catalog=False)
    try:
        assert isinstance(a.clock, StoredOffsetClock)
        target = a.clock.now() + timedelta(days=40)
        a.clock.set(target)
        b.clock._read_at = float("-inf")  # as if its cache had expired
        assert abs(b.clock.now() - target) < timedelta(seconds=2)
        with pytest.raises(ValueError, match="only moves forward"):
            b.clock.set(target - timedelta(days=1))
        # the domain reads it too
        assert abs(b.app.now() - target) < timedelta(seconds=2)
    finally:
        a.close()
        b.close()


def test_without_test_mode_the_clock_is_real_time(tmp_path):
    s = bootstrap(Settings(data_dir=tmp_path), load_catalog=False)
    try:
        assert not isinstance(s.clock, StoredOffsetClock)
    finally:
        s.close()
