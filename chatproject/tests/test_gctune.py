"""A server process sets its garbage collector for serving (chatproject/gctune.py)."""

import json
import os
import subprocess
import sys

import pytest

from chatproject.testing import ROOT

PROBE = "import gc, json, chatproject.asgi; print(json.dumps([gc.get_threshold(), gc.get_freeze_count()]))"


def collector_of_a_server_process(**env: str) -> tuple[list[int], int]:
    environment = {k: v for k, v in os.environ.items() if k != "GC_GEN0_THRESHOLD"} | env
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    thresholds, frozen = json.loads(out.stdout.strip().splitlines()[-1])
    return thresholds, frozen


@pytest.mark.parametrize(
    ("env", "first_threshold"),
    [({}, 20000), ({"GC_GEN0_THRESHOLD": "5000"}, 5000), ({"GC_GEN0_THRESHOLD": "0"}, 700)],
)
def test_start_up_objects_are_frozen_and_the_first_threshold_is_raised(env, first_threshold):
    thresholds, frozen = collector_of_a_server_process(**env)
    assert thresholds[0] == first_threshold
    assert thresholds[1:] == [10, 10]  # Python's own for the older generations
    assert frozen > 10_000  # Django, the apps, the URL patterns: out of every full collection
