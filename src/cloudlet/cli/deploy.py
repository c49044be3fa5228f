"""``cloudlet deploy template.yaml``: deploy a SAM template and print its outputs."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click
from botocore.exceptions import ClientError, WaiterError
from rich.console import Console

from cloudlet.deploy import TemplateError, deploy_template
from cloudlet.deploy.deployer import path_form_url

TEMPLATE_SUFFIXES = (".yaml", ".yml", ".json", ".template")


def is_template(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in TEMPLATE_SUFFIXES


def parse_overrides(items: Iterable[str]) -> dict[str, str]:
    """``K=V`` items; like ``sam deploy``, one item may hold several space-separated pairs,
    and the CloudFormation form ``ParameterKey=K,ParameterValue=V`` is accepted too."""
    overrides: dict[str, str] = {}
    for item in items:
        for pair in item.split():
            if pair.startswith("ParameterKey="):
                fields = dict(p.partition("=")[::2] for p in pair.split(","))
                if "ParameterValue" not in fields:
                    raise click.BadParameter(
                        f"expected ParameterKey=K,ParameterValue=V, got {pair!r}",
                        param_hint="--parameter-overrides",
                    )
                overrides[fields["ParameterKey"]] = fields["ParameterValue"]
                continue
            key, sep, value = pair.partition("=")
            if not sep or not key:
                raise click.BadParameter(
                    f"expected KEY=VALUE, got {pair!r}", param_hint="--parameter-overrides"
                )
            overrides[key] = value
    return overrides


def run_deploy(
    template: Path,
    clients: Callable[[str], Any],
    *,
    endpoint: str,
    region: str,
    stack_name: str | None,
    overrides: Iterable[str],
    console: Console,
) -> None:
    def log(line: str) -> None:
        click.echo(line)

    try:
        result = deploy_template(
            template,
            clients,
            stack_name=stack_name,
            overrides=parse_overrides(overrides),
            region=region,
            log=log,
        )
    except TemplateError as exc:
        raise click.ClickException(f"template: {exc}") from exc
    except (ClientError, WaiterError) as exc:
        raise click.ClickException(str(exc)) from exc
    console.print(f"[green]deployed[/] stack [bold]{result.stack_name}[/] ({len(result.resources)} resources)")
    if result.outputs:
        click.echo("Outputs:")
        for output in result.outputs:
            click.echo(f"  {output.name} = {output.value}")
            if output.description:
                click.echo(f"      {output.description}")
            alternative = path_form_url(str(output.value), endpoint)
            if alternative:
                click.echo(f"      (where *.localhost does not resolve: {alternative})")
    if result.state_file:
        console.print(f"state written to {result.state_file}", highlight=False)
