"""The collector's gunicorn settings come from Settings, validated like every other variable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lookout.settings import Settings, SettingsError


def test_workers_and_threads_default_and_parse():
    defaults = Settings.from_env({})
    assert defaults.collector_workers == min(4, os.cpu_count() or 1)
    assert defaults.collector_threads == 16
    chosen = Settings.from_env({"LOOKOUT_COLLECTOR_WORKERS": "3", "LOOKOUT_COLLECTOR_THREADS": "8"})
    assert (chosen.collector_workers, chosen.collector_threads) == (3, 8)
    assert Settings.from_env(chosen.as_env()) == chosen


@pytest.mark.parametrize("name", ["LOOKOUT_COLLECTOR_WORKERS", "LOOKOUT_COLLECTOR_THREADS"])
@pytest.mark.parametrize("raw", ["0", "-2", "many"])
def test_an_unusable_count_names_its_variable(name, raw):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: raw})


def test_serving_model_body_deadline_and_memory_bound_default_and_parse():
    defaults = Settings.from_env({})
    assert (
        defaults.collector_worker_class,
        defaults.collector_body_timeout_s,
        defaults.collector_max_worker_rss_mb,
    ) == ("gevent", 30.0, 300)
    chosen = Settings.from_env(
        {
            "LOOKOUT_COLLECTOR_WORKER_CLASS": "gthread",
            "LOOKOUT_COLLECTOR_BODY_TIMEOUT_S": "2.5",
            "LOOKOUT_COLLECTOR_MAX_WORKER_RSS_MB": "500",
        }
    )
    assert (chosen.collector_worker_class, chosen.collector_body_timeout_s, chosen.collector_max_worker_rss_mb) == (
        "gthread",
        2.5,
        500,
    )
    assert Settings.from_env(chosen.as_env()) == chosen


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("LOOKOUT_COLLECTOR_WORKER_CLASS", "sync"),
        ("LOOKOUT_COLLECTOR_WORKER_CLASS", "GEVENT"),
        ("LOOKOUT_COLLECTOR_BODY_TIMEOUT_S", "0"),
        ("LOOKOUT_COLLECTOR_BODY_TIMEOUT_S", "soon"),
        ("LOOKOUT_COLLECTOR_MAX_WORKER_RSS_MB", "-1"),
    ],
)
def test_an_unusable_serving_setting_names_its_variable(name, raw):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: raw})


def test_each_collector_port_has_its_own_metrics_directory(tmp_path: Path):
    settings = Settings.from_env({"LOOKOUT_HOME": str(tmp_path), "LOOKOUT_COLLECTOR_PORT": "4318"})
    assert settings.collector_metrics_dir == tmp_path / "collector-metrics-4318"
    assert settings.with_(collector_port=5000).collector_metrics_dir == tmp_path / "collector-metrics-5000"
