"""The modules that moved to shardflow_tools keep working under their old import paths."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

MOVED = [
    ("shardflow.cli", "shardflow_tools.cli"),
    ("shardflow.cli.produce", "shardflow_tools.cli.produce"),
    ("shardflow.bootstrap", "shardflow_tools.bootstrap"),
    ("shardflow.emulator", "shardflow_tools.emulator"),
    ("shardflow.emulator_h2", "shardflow_tools.emulator_h2"),
    ("shardflow.emulator_resharding", "shardflow_tools.emulator_resharding"),
    ("shardflow.packaging", "shardflow_tools.packaging"),
    ("shardflow.samples", "shardflow_tools.samples"),
    ("consumers.lambda_esm", "shardflow_tools.lambda_esm"),
    ("consumers.lambda_esm.runner", "shardflow_tools.lambda_esm.runner"),
    ("consumers.lambda_esm.checkpoints", "shardflow_tools.lambda_esm.checkpoints"),
    ("consumers.lambda_handler.resources", "shardflow_tools.lambda_esm.resources"),
]


@pytest.mark.parametrize(("old", "new"), MOVED)
def test_old_path_is_the_new_module(old: str, new: str) -> None:
    assert importlib.import_module(old) is importlib.import_module(new)


def test_names_imported_from_old_paths_are_the_same_objects() -> None:
    from consumers.lambda_esm import EventSourceMappingRunner
    from shardflow.cli import main
    from shardflow_tools import cli, lambda_esm

    assert main is cli.main
    assert EventSourceMappingRunner is lambda_esm.EventSourceMappingRunner


@pytest.mark.parametrize("module", ["shardflow", "shardflow.cli", "shardflow_tools.cli"])
def test_python_m_runs_the_cli(module: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "usage: shardflow" in proc.stdout


@pytest.mark.parametrize("module", ["shardflow.emulator", "shardflow_tools.emulator"])
def test_python_m_runs_the_emulator(module: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "--port" in proc.stdout
