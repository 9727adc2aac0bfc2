"""The Lambda deployment zip: what goes in, for which runtime, byte for byte reproducible."""

from __future__ import annotations

import ast
import base64
import hashlib
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from shardflow.errors import ConfigError
from shardflow_tools import packaging
from shardflow_tools.cli import main
from shardflow_tools.packaging import (
    PackageOptions,
    build_lambda_package,
    pip_command,
    requirements,
)


def names(reqs: Sequence[str]) -> set[str]:
    return {packaging._requirement_name(r) for r in reqs}


def test_requirements_are_the_lambda_extras_without_what_the_runtime_provides() -> None:
    reqs = requirements(PackageOptions())
    assert names(reqs) == {"orjson", "aws-lambda-powertools", "pyarrow"}
    assert names(requirements(PackageOptions(parquet=False))) == {"orjson", "aws-lambda-powertools"}
    assert "boto3" in names(requirements(PackageOptions(boto3=True)))
    assert "aws-xray-sdk" in names(requirements(PackageOptions(tracing=True)))
    assert "requests" in names(requirements(PackageOptions(extra_requirements=("requests>=2",))))


def test_pip_installs_wheels_for_the_lambda_runtime(tmp_path: Path) -> None:
    cmd = pip_command(tmp_path, ["orjson>=3.9"], PackageOptions(pip_args=("--no-index",)))
    joined = " ".join(cmd)
    for flag in (
        "--platform manylinux2014_x86_64",
        "--python-version 3.11",
        "--implementation cp",
        "--only-binary=:all:",
        f"--target {tmp_path}",
        "--no-index",
    ):
        assert flag in joined
    assert cmd[-1] == "orjson>=3.9"


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [("python_version", {"python_version": "3"}), ("platform", {"platform": "win_amd64"})],
)
def test_bad_options_name_the_field(field: str, kwargs: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=field):
        PackageOptions(**kwargs)  # type: ignore[arg-type]


def fake_installer(target: Path, reqs: Sequence[str], options: PackageOptions) -> None:
    for req in reqs:
        name = packaging._requirement_name(req).replace("-", "_")
        (target / name).mkdir()
        (target / name / "__init__.py").write_text(f"# {req}\n")
        (target / name / "__pycache__").mkdir()
        (target / name / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    # A dependency that dragged boto3 in, and a console script.
    (target / "botocore").mkdir(exist_ok=True)  # or asked for: it is a dependency of ours too
    (target / "botocore" / "__init__.py").write_text("")
    (target / "boto3-1.0.dist-info").mkdir()
    (target / "boto3-1.0.dist-info" / "METADATA").write_text("Name: boto3\n")
    (target / "bin").mkdir()
    (target / "bin" / "tool").write_text("#!/bin/sh\n")


def test_zip_holds_the_handler_and_dependencies_and_nothing_else(tmp_path: Path) -> None:
    options = PackageOptions(output=tmp_path / "fn.zip", parquet=False)
    result = build_lambda_package(options, installer=fake_installer)
    with zipfile.ZipFile(result.path) as zf:
        entries = zf.namelist()
        infos = zf.infolist()
    assert entries == sorted(entries)
    assert "consumers/lambda_handler/__init__.py" in entries
    assert "consumers/sink/writer.py" in entries
    assert "shardflow/kpl.py" in entries
    assert "orjson/__init__.py" in entries
    assert "aws_lambda_powertools/__init__.py" in entries
    tops = {e.split("/", 1)[0] for e in entries}
    assert not tops & {"boto3-1.0.dist-info", "botocore", "bin"}
    assert "shardflow_tools" not in tops
    assert not [e for e in entries if e.startswith(("consumers/kcl/", "consumers/lambda_esm/"))]
    assert not [e for e in entries if e.startswith("shardflow/cli/")]
    assert not [e for e in entries if "__pycache__" in e or e.endswith(".pyc")]
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {(i.external_attr >> 16) & 0o777 for i in infos} <= {0o644, 0o755}
    digest = base64.b64encode(hashlib.sha256(result.path.read_bytes()).digest()).decode()
    assert result.sha256_base64 == digest
    assert result.files == len(entries)


def test_zip_code_never_imports_the_tooling(tmp_path: Path) -> None:
    """The zip's own modules import nothing of shardflow_tools, the aliases or the KCL."""
    options = PackageOptions(output=tmp_path / "fn.zip", parquet=False)
    result = build_lambda_package(options, installer=fake_installer)
    forbidden = ("shardflow_tools", "shardflow._alias", "consumers.kcl", "consumers.lambda_esm")
    checked: list[str] = []
    offenders: list[tuple[str, str]] = []
    with zipfile.ZipFile(result.path) as zf:
        for name in zf.namelist():
            if not (name.startswith(("shardflow/", "consumers/")) and name.endswith(".py")):
                continue
            checked.append(name)
            for node in ast.walk(ast.parse(zf.read(name))):
                if isinstance(node, ast.Import):
                    modules = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    modules = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
                else:
                    continue
                offenders += [
                    (name, m)
                    for m in modules
                    if any(m == f or m.startswith(f"{f}.") for f in forbidden)
                ]
    assert "consumers/lambda_handler/consumer.py" in checked
    assert "shardflow/_alias.py" not in checked
    assert "consumers/lambda_handler/resources.py" not in checked
    assert "shardflow/emulator.py" not in checked
    assert offenders == []


def test_same_inputs_give_the_same_bytes(tmp_path: Path) -> None:
    first = build_lambda_package(
        PackageOptions(output=tmp_path / "a.zip"), installer=fake_installer
    )
    second = build_lambda_package(
        PackageOptions(output=tmp_path / "b.zip"), installer=fake_installer
    )
    assert first.path.read_bytes() == second.path.read_bytes()


def test_boto3_is_kept_when_asked(tmp_path: Path) -> None:
    result = build_lambda_package(
        PackageOptions(output=tmp_path / "fn.zip", boto3=True), installer=fake_installer
    )
    with zipfile.ZipFile(result.path) as zf:
        assert "botocore/__init__.py" in zf.namelist()
        assert "boto3/__init__.py" in zf.namelist()


def test_cli_prints_path_and_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(packaging, "_install", fake_installer)
    out = tmp_path / "out" / "fn.zip"
    assert main(["package", "lambda", "-o", str(out), "--no-parquet"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"{out} {out.stat().st_size} bytes")
    assert "sha256=" in printed


def test_pip_failure_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "package",
            "lambda",
            "-o",
            str(tmp_path / "fn.zip"),
            "--no-parquet",
            "--pip-arg=--no-index",
            f"--pip-arg=--find-links={tmp_path}",
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "pip could not install" in err
    assert "manylinux2014_x86_64" in err
    assert not (tmp_path / "fn.zip").exists()


def test_real_pip_installs_a_local_wheel_for_the_lambda_platform(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel = wheels / "tinydep-1.0-py3-none-any.whl"
    metadata = "Metadata-Version: 2.1\nName: tinydep\nVersion: 1.0\n"
    wheel_meta = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("tinydep/__init__.py", "VALUE = 42\n")
        zf.writestr("tinydep-1.0.dist-info/METADATA", metadata)
        zf.writestr("tinydep-1.0.dist-info/WHEEL", wheel_meta)
        zf.writestr("tinydep-1.0.dist-info/RECORD", "")
    target = tmp_path / "target"
    target.mkdir()
    options = PackageOptions(pip_args=("--no-index", "--find-links", str(wheels)))
    packaging._install(target, ["tinydep"], options)
    assert (target / "tinydep" / "__init__.py").read_text() == "VALUE = 42\n"
