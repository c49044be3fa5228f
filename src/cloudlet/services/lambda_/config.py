"""Function configuration: validation of what callers send, and the shape AWS returns.

The stored form of a configuration (``$LATEST`` in ``functions.config``, a
snapshot in ``versions.config``) is a flat dict of the members a caller can
set plus the code and revision facts::

    Runtime, Role, Handler, Description, Timeout, MemorySize, Environment (vars | None),
    TracingMode, Layers, Architectures, EphemeralStorageSize, DeadLetterConfig,
    VpcConfig, KMSKeyArn, LogFormat, SnapStart ("PublishedVersions" | "None"),
    CodeSha256, CodeSize, CodeHex,
    LastModified, RevisionId

``render`` turns it into the ``FunctionConfiguration`` boto3 returns.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
import uuid
from typing import Any

from cloudlet.errors import ValidationError
from cloudlet.services.lambda_.errors import InvalidParameterValue
from cloudlet.services.lambda_.names import LATEST, function_arn

SUPPORTED_RUNTIMES = tuple(f"python3.{minor}" for minor in range(9, 15))
SNAPSTART_APPLY_ON = ("PublishedVersions", "None")
DEFAULT_TIMEOUT = 3
DEFAULT_MEMORY = 128
MAX_TIMEOUT = 900
MAX_MEMORY = 10240
MAX_ENV_BYTES = 4096
MAX_LAYERS = 5

ROLE_PATTERN = r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+"
_ROLE_RE = re.compile(ROLE_PATTERN)
_ENV_KEY_RE = re.compile(r"[a-zA-Z]([a-zA-Z0-9_])+")
_HANDLER_RE = re.compile(r"[^\s]{1,128}")

RESERVED_ENV_KEYS = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)

#: Stored keys that do not describe what runs (excluded when deciding whether a publish is new).
_VOLATILE = ("LastModified", "RevisionId", "Version")


def now_iso() -> str:
    """``LastModified`` as Lambda writes it: ``2026-11-29T21:44:00.123+0000``."""
    now = datetime.datetime.now(datetime.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


def new_revision() -> str:
    return str(uuid.uuid4())


def content_hash(config: dict[str, Any]) -> str:
    """A digest of code + configuration; equal digests mean a publish would change nothing."""
    stable = {k: v for k, v in config.items() if k not in _VOLATILE}
    return hashlib.sha256(json.dumps(stable, sort_keys=True).encode()).hexdigest()


def _range_error(value: int, member: str, bound: int, *, upper: bool) -> ValidationError:
    relation = "less than or equal to" if upper else "greater than or equal to"
    return ValidationError(
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
        f"Member must have value {relation} {bound}"
    )


def check_runtime(runtime: str) -> None:
    if runtime not in SUPPORTED_RUNTIMES:
        raise InvalidParameterValue(
            f"The runtime parameter of {runtime} is not supported by Cloudlet. "
            f"Supported runtimes: {', '.join(SUPPORTED_RUNTIMES)}."
        )


def check_role(role: str) -> None:
    if not _ROLE_RE.fullmatch(role):
        raise ValidationError(
            f"1 validation error detected: Value '{role}' at 'role' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {ROLE_PATTERN}"
        )


def check_handler(handler: str) -> None:
    if not _HANDLER_RE.fullmatch(handler):
        raise ValidationError(
            f"1 validation error detected: Value '{handler}' at 'handler' failed to satisfy "
            r"constraint: Member must satisfy regular expression pattern: [^\s]+"
        )


def check_environment(variables: dict[str, str]) -> None:
    bad = [k for k in variables if not _ENV_KEY_RE.fullmatch(k)]
    if bad:
        raise ValidationError(
            "1 validation error detected: Value at 'environment.variables' failed to satisfy "
            "constraint: Map keys must satisfy constraint: [Member must satisfy regular expression "
            "pattern: [a-zA-Z]([a-zA-Z0-9_])+]"
        )
    reserved = sorted(k for k in variables if k in RESERVED_ENV_KEYS)
    if reserved:
        raise InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the environment "
            "variables you have provided contains reserved keys that are currently not supported "
            f"for modification. Reserved keys used in this request: {','.join(reserved)}"
        )
    measured = json.dumps(variables, separators=(",", ":"))
    if len(measured.encode()) > MAX_ENV_BYTES:
        raise InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the environment "
            "variables you have provided exceeded the 4KB limit. String measured: " + measured
        )


def apply_settings(config: dict[str, Any], params: dict[str, Any]) -> None:
    """Validate the configurable members present in ``params`` and copy them into ``config``."""
    if "Runtime" in params:
        check_runtime(params["Runtime"])
        config["Runtime"] = params["Runtime"]
    if "Role" in params:
        check_role(params["Role"])
        config["Role"] = params["Role"]
    if "Handler" in params:
        check_handler(params["Handler"])
        config["Handler"] = params["Handler"]
    if "Description" in params:
        if len(params["Description"]) > 256:
            raise ValidationError(
                "1 validation error detected: Value at 'description' failed to satisfy constraint: "
                "Member must have length less than or equal to 256"
            )
        config["Description"] = params["Description"]
    if "Timeout" in params:
        timeout = int(params["Timeout"])
        if timeout < 1:
            raise _range_error(timeout, "timeout", 1, upper=False)
        if timeout > MAX_TIMEOUT:
            raise _range_error(timeout, "timeout", MAX_TIMEOUT, upper=True)
        config["Timeout"] = timeout
    if "MemorySize" in params:
        memory = int(params["MemorySize"])
        if memory < 128:
            raise _range_error(memory, "memorySize", 128, upper=False)
        if memory > MAX_MEMORY:
            raise InvalidParameterValue(
                f"'MemorySize' value failed to satisfy constraint: Member must have value less "
                f"than or equal to {MAX_MEMORY}"
            )
        config["MemorySize"] = memory
    if "Environment" in params:
        variables = dict((params["Environment"] or {}).get("Variables") or {})
        check_environment(variables)
        config["Environment"] = variables
    if "TracingConfig" in params:
        config["TracingMode"] = (params["TracingConfig"] or {}).get("Mode") or "PassThrough"
    if "Layers" in params:
        layers = list(params["Layers"] or [])
        if len(layers) > MAX_LAYERS:
            raise InvalidParameterValue("Cannot reference more than 5 layers.")
        config["Layers"] = layers
    if "EphemeralStorage" in params:
        size = int((params["EphemeralStorage"] or {}).get("Size", 512))
        if not 512 <= size <= 10240:
            raise _range_error(
                size, "ephemeralStorage.size", 512 if size < 512 else 10240, upper=size > 10240
            )
        config["EphemeralStorageSize"] = size
    for member in ("DeadLetterConfig", "VpcConfig", "KMSKeyArn"):
        if member in params:
            config[member] = params[member]
    if "LoggingConfig" in params:
        config["LogFormat"] = (params["LoggingConfig"] or {}).get("LogFormat") or "Text"
    if "SnapStart" in params:
        apply_on = (params["SnapStart"] or {}).get("ApplyOn") or "None"
        if apply_on not in SNAPSTART_APPLY_ON:
            raise ValidationError(
                f"1 validation error detected: Value '{apply_on}' at 'snapStart.applyOn' failed to satisfy "
                "constraint: Member must satisfy enum value set: [PublishedVersions, None]"
            )
        config["SnapStart"] = apply_on


def snap_start_view(config: dict[str, Any], version: str) -> dict[str, str]:
    """``SnapStart`` of a version: optimization is on for published versions of a SnapStart function."""
    apply_on = config.get("SnapStart") or "None"
    on = apply_on == "PublishedVersions" and version != LATEST
    return {"ApplyOn": apply_on, "OptimizationStatus": "On" if on else "Off"}


def check_architectures(value: list[str] | None) -> list[str]:
    architectures = list(value or ["x86_64"])
    if len(architectures) != 1 or architectures[0] not in ("x86_64", "arm64"):
        raise ValidationError(
            f"1 validation error detected: Value '{architectures}' at 'architectures' failed to "
            "satisfy constraint: Member must have length less than or equal to 1 and each member "
            "must satisfy enum value set: [x86_64, arm64]"
        )
    return architectures


def new_config(params: dict[str, Any]) -> dict[str, Any]:
    """The stored configuration of a function being created (code facts are added by the caller)."""
    package_type = params.get("PackageType") or "Zip"
    if package_type != "Zip":
        raise InvalidParameterValue(
            "Cloudlet supports only the Zip package type; container image functions are not supported."
        )
    if not params.get("Runtime"):
        raise InvalidParameterValue("Runtime is required for functions with the Zip package type.")
    if not params.get("Handler"):
        raise InvalidParameterValue("Handler is required for functions with the Zip package type.")
    if not params.get("Role"):
        raise InvalidParameterValue("Role is required.")
    config: dict[str, Any] = {
        "Description": "",
        "Timeout": DEFAULT_TIMEOUT,
        "MemorySize": DEFAULT_MEMORY,
        "Environment": None,
        "TracingMode": "PassThrough",
        "Layers": [],
        "EphemeralStorageSize": 512,
        "LogFormat": "Text",
    }
    apply_settings(config, params)
    config["Architectures"] = check_architectures(params.get("Architectures"))
    return config


def render(
    config: dict[str, Any], region: str, account: str, name: str, version: str = LATEST
) -> dict[str, Any]:
    """The ``FunctionConfiguration`` of one version (``$LATEST`` or a number) as boto3 returns it."""
    qualified = version != LATEST
    out: dict[str, Any] = {
        "FunctionName": name,
        "FunctionArn": function_arn(region, account, name, version if qualified else None),
        "Runtime": config["Runtime"],
        "Role": config["Role"],
        "Handler": config["Handler"],
        "CodeSize": config["CodeSize"],
        "Description": config.get("Description", ""),
        "Timeout": config["Timeout"],
        "MemorySize": config["MemorySize"],
        "LastModified": config["LastModified"],
        "CodeSha256": config["CodeSha256"],
        "Version": version,
        "TracingConfig": {"Mode": config.get("TracingMode", "PassThrough")},
        "RevisionId": config["RevisionId"],
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": list(config.get("Architectures") or ["x86_64"]),
        "EphemeralStorage": {"Size": config.get("EphemeralStorageSize", 512)},
        "SnapStart": snap_start_view(config, version),
        "RuntimeVersionConfig": {
            "RuntimeVersionArn": f"arn:aws:lambda:{region}::runtime:"
            + hashlib.sha256(config["Runtime"].encode()).hexdigest()
        },
        "LoggingConfig": {
            "LogFormat": config.get("LogFormat", "Text"),
            "LogGroup": f"/aws/lambda/{name}",
        },
    }
    if config.get("Environment") is not None:
        out["Environment"] = {"Variables": dict(config["Environment"])}
    if config.get("Layers"):
        out["Layers"] = [{"Arn": arn, "CodeSize": 0} for arn in config["Layers"]]
    for member in ("DeadLetterConfig", "VpcConfig", "KMSKeyArn"):
        if config.get(member):
            out[member] = config[member]
    return out
