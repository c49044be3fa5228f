"""The ``cloudlet`` command: a thin shell over the server and the AWS API.

Every command talks to a running server through boto3 exactly as a user's own
code would, except ``up``, which starts one.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from cloudlet.cli.bench import bench
from cloudlet.config import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_REGION, Settings

console = Console()
DEFAULT_ROLE = "arn:aws:iam::000000000000:role/cloudlet-lambda"


def _client(ctx: click.Context, service: str) -> Any:
    import boto3
    from botocore.config import Config

    obj = ctx.find_root().obj
    return boto3.client(
        service,
        endpoint_url=obj["endpoint"],
        region_name=obj["region"],
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        config=Config(retries={"mode": "standard", "max_attempts": 2}, read_timeout=960),
    )


@click.group()
@click.option(
    "--endpoint",
    envvar="CLOUDLET_ENDPOINT",
    default=f"http://{DEFAULT_HOST}:{DEFAULT_PORT}",
    show_default=True,
    help="Endpoint of a running Cloudlet (env CLOUDLET_ENDPOINT).",
)
@click.option(
    "--region",
    envvar="CLOUDLET_REGION",
    default=DEFAULT_REGION,
    show_default=True,
    help="Region to call (env CLOUDLET_REGION).",
)
@click.version_option(package_name="cloudlet")
@click.pass_context
def cli(ctx: click.Context, endpoint: str, region: str) -> None:
    """Cloudlet: a serverless cloud on one machine that speaks the AWS API.

    \b
    Example:
      cloudlet up
      cloudlet deploy ./hello --name hello
      cloudlet invoke hello --payload '{"name": "world"}'
    """
    ctx.obj = {"endpoint": endpoint.rstrip("/"), "region": region}


@cli.command()
@click.option(
    "--host",
    envvar="CLOUDLET_HOST",
    default=DEFAULT_HOST,
    show_default=True,
    help="Interface to bind (env CLOUDLET_HOST).",
)
@click.option(
    "--port",
    envvar="CLOUDLET_PORT",
    default=DEFAULT_PORT,
    show_default=True,
    type=int,
    help="Port (env CLOUDLET_PORT).",
)
@click.option(
    "--data-dir",
    envvar="CLOUDLET_DATA_DIR",
    default=".cloudlet",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where state is kept (env CLOUDLET_DATA_DIR).",
)
@click.option(
    "--fsync/--no-fsync",
    envvar="CLOUDLET_FSYNC",
    default=False,
    help="Survive power loss, not only kill -9 (env CLOUDLET_FSYNC).",
)
@click.pass_context
def up(ctx: click.Context, host: str, port: int, data_dir: Path, fsync: bool) -> None:
    """Start Cloudlet: one endpoint for every service; Ctrl-C stops it.

    \b
    Example:
      cloudlet up --port 4566 --data-dir ./.cloudlet
    """
    from cloudlet.edge.server import serve

    settings = Settings.load(
        {
            "host": host,
            "port": port,
            "data_dir": data_dir,
            "fsync": fsync,
            "region": ctx.find_root().obj["region"],
        }
    )
    console.print(f"[bold green]Cloudlet[/] listening on [bold]{settings.endpoint}[/]")
    console.print(f"  region       {settings.region}")
    console.print("  credentials  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test")
    console.print(f"  data dir     {settings.data_dir.resolve()}")
    console.print(f"  try          aws --endpoint-url {settings.endpoint} lambda list-functions")
    sys.stdout.flush()
    # uvicorn shuts down gracefully on SIGINT, then re-raises the signal.
    with contextlib.suppress(KeyboardInterrupt):
        serve(settings)
    console.print("Cloudlet stopped.")


def zip_directory(path: Path) -> bytes:
    """Zip a folder the way `zip -r` from inside it would (paths relative to it)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(path.rglob("*")):
            rel = file.relative_to(path)
            if any(part in ("__pycache__", ".git") for part in rel.parts) or not file.is_file():
                continue
            zf.write(file, rel.as_posix())
    return buf.getvalue()


@cli.command()
@click.argument("directory", type=click.Path(exists=True, path_type=Path))
@click.option("--name", default=None, help="Function name (required when deploying a directory).")
@click.option(
    "--handler", default="app.handler", show_default=True, help="module.function to call."
)
@click.option("--runtime", default="python3.11", show_default=True, help="Lambda runtime name.")
@click.option("--timeout", type=int, default=None, help="Timeout in seconds (default 3).")
@click.option("--memory", type=int, default=None, help="Memory size in MB (default 128).")
@click.option(
    "--env", "env", multiple=True, metavar="KEY=VALUE", help="Environment variable (repeatable)."
)
@click.option(
    "--stack-name",
    envvar="CLOUDLET_STACK_NAME",
    default=None,
    help="Template deploys: stack name (default: the template's folder name; env CLOUDLET_STACK_NAME).",
)
@click.option(
    "--parameter-overrides",
    "parameter_overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Template deploys: template parameter value (repeatable, or several space-separated).",
)
@click.pass_context
def deploy(
    ctx: click.Context,
    directory: Path,
    name: str | None,
    handler: str,
    runtime: str,
    timeout: int | None,
    memory: int | None,
    env: tuple[str, ...],
    stack_name: str | None,
    parameter_overrides: tuple[str, ...],
) -> None:
    """Deploy a SAM template (TEMPLATE.yaml), or zip DIRECTORY into the function NAME.

    A template's resources are created, or updated if they exist, in dependency
    order, and its Outputs are printed. A directory is zipped and becomes the
    function NAME (created, or its code and configuration updated).

    \b
    Example:
      cloudlet deploy template.yaml --parameter-overrides MaxReceiveCount=2
      cloudlet deploy ./hello --name hello --handler app.handler --env STAGE=dev
    """
    from botocore.exceptions import ClientError

    from cloudlet.cli.deploy import is_template, run_deploy

    if is_template(directory):
        obj = ctx.find_root().obj
        run_deploy(
            directory,
            lambda service: _client(ctx, service),
            endpoint=obj["endpoint"],
            region=obj["region"],
            stack_name=stack_name,
            overrides=parameter_overrides,
            console=console,
        )
        return
    if not directory.is_dir():
        raise click.BadParameter(
            "expected a directory or a template (.yaml, .yml, .json)", param_hint="DIRECTORY"
        )
    if not name:
        raise click.UsageError("--name is required when deploying a directory")
    client = _client(ctx, "lambda")
    code = zip_directory(directory)
    config: dict[str, Any] = {"Handler": handler, "Runtime": runtime}
    if timeout is not None:
        config["Timeout"] = timeout
    if memory is not None:
        config["MemorySize"] = memory
    if env:
        config["Environment"] = {"Variables": dict(_split_env(e) for e in env)}
    try:
        client.get_function_configuration(FunctionName=name)
        exists = True
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise click.ClickException(str(exc)) from exc
        exists = False
    try:
        if exists:
            client.update_function_code(FunctionName=name, ZipFile=code)
            client.get_waiter("function_updated_v2").wait(
                FunctionName=name, WaiterConfig={"Delay": 1}
            )
            result = client.update_function_configuration(FunctionName=name, **config)
            client.get_waiter("function_updated_v2").wait(
                FunctionName=name, WaiterConfig={"Delay": 1}
            )
            verb = "updated"
        else:
            result = client.create_function(
                FunctionName=name, Role=DEFAULT_ROLE, Code={"ZipFile": code}, **config
            )
            client.get_waiter("function_active_v2").wait(
                FunctionName=name, WaiterConfig={"Delay": 1}
            )
            verb = "created"
    except ClientError as exc:
        raise click.ClickException(str(exc)) from exc
    console.print(
        f"[green]{verb}[/] {result['FunctionArn']} ({len(code)} bytes, sha256 {result['CodeSha256']})"
    )


def _split_env(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep:
        raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--env")
    return key, value


@cli.command()
@click.argument("name")
@click.option(
    "--payload",
    default="{}",
    show_default=True,
    help="JSON event, or @file to read it from a file.",
)
@click.option("--logs", "show_logs", is_flag=True, help="Also print the invocation's log tail.")
@click.option("--qualifier", default=None, help="Version or alias to invoke.")
@click.pass_context
def invoke(
    ctx: click.Context, name: str, payload: str, show_logs: bool, qualifier: str | None
) -> None:
    """Invoke function NAME synchronously and print its result.

    \b
    Example:
      cloudlet invoke hello --payload '{"name": "world"}' --logs
      cloudlet invoke hello --payload @event.json
    """
    import base64

    from botocore.exceptions import ClientError

    data = Path(payload[1:]).read_bytes() if payload.startswith("@") else payload.encode()
    kwargs: dict[str, Any] = {
        "FunctionName": name,
        "Payload": data,
        "LogType": "Tail" if show_logs else "None",
    }
    if qualifier:
        kwargs["Qualifier"] = qualifier
    try:
        response = _client(ctx, "lambda").invoke(**kwargs)
    except ClientError as exc:
        raise click.ClickException(str(exc)) from exc
    body = response["Payload"].read().decode("utf-8", "replace")
    if show_logs and response.get("LogResult"):
        click.echo(base64.b64decode(response["LogResult"]).decode("utf-8", "replace"), err=True)
    click.echo(body)
    if response.get("FunctionError"):
        sys.exit(1)


@cli.command()
@click.argument("name")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new log events.")
@click.option("--since", default=600, show_default=True, help="Start this many seconds ago.")
@click.pass_context
def logs(ctx: click.Context, name: str, follow: bool, since: int) -> None:
    """Print the logs of function NAME (its /aws/lambda/NAME log group).

    \b
    Example:
      cloudlet logs hello -f
    """
    from botocore.exceptions import ClientError

    client = _client(ctx, "logs")
    group = name if name.startswith("/") else f"/aws/lambda/{name}"
    start = int((time.time() - since) * 1000)
    seen: set[str] = set()
    try:
        while True:
            kwargs: dict[str, Any] = {"logGroupName": group, "startTime": start}
            while True:
                page = client.filter_log_events(**kwargs)
                for event in page.get("events", []):
                    if event["eventId"] in seen:
                        continue
                    seen.add(event["eventId"])
                    start = max(start, event["timestamp"])
                    stamp = time.strftime(
                        "%Y-%m-%dT%H:%M:%S", time.gmtime(event["timestamp"] / 1000)
                    )
                    click.echo(f"{stamp} {event['logStreamName']} {event['message'].rstrip()}")
                if not page.get("nextToken"):
                    break
                kwargs["nextToken"] = page["nextToken"]
            if not follow:
                return
            time.sleep(1.0)
    except ClientError as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt:
        return


@cli.command(name="ls")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def ls(ctx: click.Context, as_json: bool) -> None:
    """List the deployed functions.

    \b
    Example:
      cloudlet ls
    """
    client = _client(ctx, "lambda")
    functions = [
        f for page in client.get_paginator("list_functions").paginate() for f in page["Functions"]
    ]
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        k: f.get(k)
                        for k in (
                            "FunctionName",
                            "Runtime",
                            "Handler",
                            "MemorySize",
                            "Timeout",
                            "LastModified",
                        )
                    }
                    for f in functions
                ],
                indent=2,
            )
        )
        return
    table = Table("name", "runtime", "handler", "memory", "timeout", "last modified")
    for f in functions:
        table.add_row(
            f["FunctionName"],
            f.get("Runtime", ""),
            f.get("Handler", ""),
            str(f.get("MemorySize")),
            str(f.get("Timeout")),
            f.get("LastModified", ""),
        )
    console.print(table)


cli.add_command(bench)


def main() -> None:
    cli(prog_name="cloudlet")


if __name__ == "__main__":
    main()
