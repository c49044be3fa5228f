"""Pure helpers of ``cloudlet deploy template.yaml`` and the example's template and handler."""

from __future__ import annotations

import importlib.util
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import click
import pytest

from cloudlet.cli.deploy import is_template, parse_overrides
from cloudlet.deploy.context import DeployContext
from cloudlet.deploy.deployer import path_form_url, stack_name_for
from cloudlet.deploy.functions import zip_directory
from cloudlet.deploy.resources import notification_filter, simple_table_properties
from cloudlet.deploy.template import load_template

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "thumbnails"


def test_parameter_overrides_accept_repeats_and_space_separated_pairs() -> None:
    assert parse_overrides(["A=1 B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    assert parse_overrides(["ParameterKey=Size,ParameterValue=64"]) == {"Size": "64"}
    with pytest.raises(click.BadParameter):
        parse_overrides(["novalue"])


def test_path_form_url_and_stack_names(tmp_path: Path) -> None:
    assert (
        path_form_url("http://abc.execute-api.localhost:4566/x", "http://127.0.0.1:4566")
        == "http://127.0.0.1:4566/_aws/execute-api/abc/x"
    )
    assert path_form_url("http://127.0.0.1:4566/q", "http://127.0.0.1:4566") is None
    folder = tmp_path / "my_app 2"
    folder.mkdir()
    assert stack_name_for(folder / "template.yaml") == "my-app-2"
    (folder / "template.yaml").write_text("Resources: {}")
    assert is_template(folder / "template.yaml") and not is_template(folder)


def test_physical_names_are_deterministic_and_bounded() -> None:
    template = load_template(EXAMPLE / "template.yaml")
    ctx = DeployContext(template, "thumbnails", "us-east-1", "000000000000", lambda s: None)
    assert ctx.physical_name("ImagesBucket", 63, lower=True) == "thumbnails-imagesbucket"
    long = ctx.physical_name("X" * 100, 64)
    assert len(long) == 64 and long == ctx.physical_name("X" * 100, 64)
    assert ctx.physical_name("Q", 80, suffix=".fifo").endswith("-Q.fifo")


def test_zip_is_stable_across_runs(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("x = 1\n")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "app.pyc").write_bytes(b"junk")
    first = zip_directory(tmp_path)
    (tmp_path / "app.py").touch()
    assert zip_directory(tmp_path) == first


def test_cloudformation_shapes_map_to_api_shapes() -> None:
    assert notification_filter({"S3Key": {"Rules": [{"Name": "prefix", "Value": "uploads/"}]}}) == {
        "Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}]}
    }
    table = simple_table_properties({"PrimaryKey": {"Name": "pk", "Type": "Number"}})
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "N"}]
    assert table["BillingMode"] == "PAY_PER_REQUEST"


@pytest.mark.skipif(shutil.which("cfn-lint", path=str(Path(sys.executable).parent)) is None,
                    reason="cfn-lint is in the test extra")
def test_cfn_lint_accepts_the_example_template() -> None:
    cfn_lint = str(Path(sys.executable).parent / "cfn-lint")
    out = subprocess.run([cfn_lint, str(EXAMPLE / "template.yaml")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr


# -- the example's handler, without a server -------------------------------------------------


def load_app(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    pytest.importorskip("PIL")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    spec = importlib.util.spec_from_file_location("thumbnails_app", EXAMPLE / "src" / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_handler_helpers(monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    app = load_app(monkeypatch)
    assert app.thumbnail_key("uploads/a b/c.png") == "thumbnails/a b/c.png"
    s3_event: dict[str, Any] = {"Records": [{"s3": {"object": {"key": "uploads/a+b.png"}}}]}
    assert app.s3_records(json.dumps(s3_event)) == s3_event["Records"]
    envelope = {"Type": "Notification", "Message": json.dumps(s3_event)}
    assert app.s3_records(json.dumps(envelope)) == s3_event["Records"]
    assert app.s3_records(json.dumps({"Event": "s3:TestEvent"})) == []

    for fmt, mode in (("PNG", "RGBA"), ("JPEG", "RGB"), ("GIF", "P"), ("WEBP", "RGB")):
        buf = io.BytesIO()
        Image.new(mode, (400, 100)).save(buf, fmt)
        data, content_type = app.make_thumbnail(buf.getvalue(), 64)
        with Image.open(io.BytesIO(data)) as thumb:
            assert thumb.format == fmt and thumb.size == (64, 16)
        assert content_type == f"image/{fmt.lower()}"
    with pytest.raises(Exception):  # noqa: B017 - Pillow raises several types for junk
        app.make_thumbnail(b"not an image", 64)
