"""SnapStart hooks: a value fixed at init, re-seeded randomness after restore."""

import os
import random

from snapshot_restore_py import register_after_restore, register_before_snapshot

INIT_PID = os.getpid()
state = {"before": 0, "after": 0, "seed": None}
random.seed(42)  # every restored copy would draw the same numbers without a re-seed


@register_before_snapshot
def before():
    state["before"] += 1
    print("before snapshot hook", flush=True)


def reseed(tag):
    state["after"] += 1
    state["seed"] = tag
    random.seed(os.urandom(16))


register_after_restore(reseed, "reseeded")


def handler(event, context):
    return {
        "pid": os.getpid(),
        "init_pid": INIT_PID,
        "state": state,
        "draw": random.random(),
        "init_type": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"),
        "tmp": sorted(os.listdir("/tmp")),
    }
