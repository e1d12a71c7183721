"""The 24-hour window of per-key usage buckets (pure part of access.key_usage)."""

from access.key_usage import BUCKET_S, WINDOW_S, bucket_key, window_buckets


def test_the_window_is_the_current_bucket_and_the_143_before_it() -> None:
    now = 1_796_040_123.4
    buckets = window_buckets(now)
    assert len(buckets) == WINDOW_S // BUCKET_S == 144
    assert buckets[-1] == int(now) // BUCKET_S
    # The oldest bucket still summed started less than 24 h before now; the one before it is out.
    assert now - buckets[0] * BUCKET_S <= WINDOW_S
    assert now - (buckets[0] - 1) * BUCKET_S > WINDOW_S - BUCKET_S


def test_bucket_keys_name_the_key_and_the_bucket() -> None:
    assert bucket_key(7, 2_993_400) == "lookout:key-usage:7:2993400"
    assert bucket_key(7, 1) != bucket_key(8, 1)
