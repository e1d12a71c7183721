"""Hypothesis profiles for the fuzzing suites.

``default`` keeps the suite quick enough for every ``scripts/test`` run; ``HYPOTHESIS_PROFILE=long``
searches much further (run it after changing a parser). Seeds that once failed stay as ``@example``s next
to their test, so they run under every profile.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# No deadline: the machine is shared, and a slow example is not a wrong one.
settings.register_profile(
    "default", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "long", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
