"""The alerting settings: defaults derived from the other addresses, bad values named."""

from __future__ import annotations

import pytest

from lookout.settings import Settings, SettingsError


def test_defaults_point_at_this_node():
    settings = Settings.from_env({"LOOKOUT_COLLECTOR_PORT": "5000", "LOOKOUT_DASHBOARD_PORT": "5001"})
    assert settings.alert_metrics_urls == ("http://127.0.0.1:5000/metrics", "http://127.0.0.1:5001/metrics")
    assert settings.public_url == "http://127.0.0.1:5001"
    assert (settings.smtp_port, settings.smtp_security) == (587, "starttls")


def test_an_empty_metrics_list_turns_platform_scrapes_off_and_survives_as_env():
    settings = Settings.from_env({"LOOKOUT_ALERT_METRICS_URLS": ""})
    assert settings.alert_metrics_urls == ()
    assert Settings.from_env(settings.as_env()) == settings


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LOOKOUT_ALERT_METRICS_URLS", "ftp://x/metrics"),
        ("LOOKOUT_SMTP_SECURITY", "tls"),
        ("LOOKOUT_ALERT_TICK_S", "0"),
        ("LOOKOUT_SMTP_PORT", "70000"),
    ],
)
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(SettingsError, match=f"^{name}="):
        Settings.from_env({name: value})
