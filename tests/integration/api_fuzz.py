"""Running schemathesis over every operation of an OpenAPI document, read at run time, so an operation
added to the document later is fuzzed without touching the tests.

(schemathesis' own pytest integration, ``from_fixture``, does not run under this pytest: it sets a node
attribute pytest 9 no longer has. Each operation and generation mode is one Hypothesis run here instead,
and every failure is collected so one report names them all.)
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

BOTH_MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)


@schemathesis.serializer("application/x-ndjson", "application/x-protobuf")
def _raw(_ctx: schemathesis.SerializationContext, value: object) -> bytes:
    """Bodies a document declares as strings (NDJSON, protobuf) are sent as they were generated."""
    if isinstance(value, bytes):
        return value
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()  # (negative data: any JSON)


def fuzz_every_operation(
    schema: schemathesis.BaseSchema,
    call: Callable[[schemathesis.Case], object],
    max_examples: int,
    modes: tuple[schemathesis.GenerationMode, ...] = BOTH_MODES,
    before_operation: Callable[[], None] = lambda: None,
) -> tuple[list[str], list[str]]:
    """(operations run, failures as "METHOD /path [mode]: what failed").

    ``max_examples`` is per operation and mode in the default run; ``HYPOTHESIS_PROFILE=long`` (the
    profile tests/fuzz uses for a long search) multiplies it by 20 and derives new requests each run.
    """
    long = os.environ.get("HYPOTHESIS_PROFILE") == "long"
    if long:
        max_examples *= 20
    ran: list[str] = []
    failures: list[str] = []
    # Credentials are the caller's to give (``call``), not fuzzed: the ignored_auth check takes them away.
    schema.config.generation.update(with_security_parameters=False)
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in modes:
            before_operation()

            @given(case=operation.as_strategy(generation_mode=mode))
            # No shrinking: a minimal example of a failing request is not worth minutes of more requests.
            # Derandomized: the suite sends the same requests every run, so a red CI means the code changed;
            # `HYPOTHESIS_PROFILE=long` (tests/fuzz) is where new inputs are searched for.
            @settings(max_examples=max_examples, deadline=None, database=None, phases=(Phase.explicit, Phase.generate),
                      suppress_health_check=list(HealthCheck), derandomize=not long)
            def run(case: schemathesis.Case) -> None:
                call(case)

            try:
                run()
            except Unsatisfiable:
                continue  # nothing in the operation to make invalid (no parameters, no body)
            # schemathesis reports its failures as a BaseExceptionGroup
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - every failure is reported
                failures.append(f"{operation.label} [{mode.value}]: {type(exc).__name__}: {str(exc)[:1500]}")
        ran.append(operation.label)
    return ran, failures
