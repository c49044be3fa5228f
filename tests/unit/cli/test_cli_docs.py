"""Docs that cannot drift: every command has help with an example and is in the README."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cloudlet.cli.main import cli

README = (Path(__file__).resolve().parents[3] / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_command_has_help_with_example_and_is_documented(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output
    assert f"cloudlet {name}" in README
    for param in cli.commands[name].params:
        if param.param_type_name == "option" and param.name != "help":
            assert param.help, f"{name} --{param.name} has no help text"  # type: ignore[attr-defined]


def test_up_options_have_env_vars() -> None:
    envvars = {p.name: getattr(p, "envvar", None) for p in cli.commands["up"].params}
    assert envvars["host"] == "CLOUDLET_HOST"
    assert envvars["port"] == "CLOUDLET_PORT"
    assert envvars["data_dir"] == "CLOUDLET_DATA_DIR"
