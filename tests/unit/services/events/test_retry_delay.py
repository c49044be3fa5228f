"""The retry decision EventBridge and Scheduler targets share."""

from __future__ import annotations

import pytest

from cloudlet.services.events.targets import retry_delay


@pytest.mark.parametrize(
    "policy, attempt, now, expected",
    [
        ({}, 1, 0.0, 1.0),  # defaults: 185 attempts, a day
        ({}, 3, 0.0, 4.0),  # doubling
        ({}, 10, 0.0, 60.0),  # capped
        ({"MaximumRetryAttempts": 2}, 2, 0.0, 2.0),
        ({"MaximumRetryAttempts": 2}, 3, 0.0, None),  # attempts used up
        ({"MaximumRetryAttempts": 0}, 1, 0.0, None),
        ({"MaximumEventAgeInSeconds": 60}, 1, 59.0, None),  # 61 s old when retried: too old
        ({"MaximumEventAgeInSeconds": 60}, 1, 58.0, 1.0),  # exactly 60 s old: still allowed
    ],
)
def test_retry_delay(policy: dict[str, int], attempt: int, now: float, expected: float | None) -> None:
    assert retry_delay(policy, attempt, first_at=-1.0, now=now, base_s=1.0, cap_s=60.0) == expected
