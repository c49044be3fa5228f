"""Returns the event, the context and the environment it ran in."""

import os
import tempfile

INVOCATIONS = 0


def handler(event, context):
    global INVOCATIONS
    INVOCATIONS += 1
    client = context.client_context
    return {
        "event": event,
        "pid": os.getpid(),
        "invocations": INVOCATIONS,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "aws_request_id": context.aws_request_id,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "identity_id": context.identity.cognito_identity_id,
        "client_custom": client.custom if client else None,
        "cwd": os.getcwd(),
        "tmpdir": tempfile.gettempdir(),
        "env": dict(os.environ),
    }
