"""Terraform driven from the integration tests through ``subprocess``.

Not python-terraform: python-terraform 0.10.1 (2019, its last release) passes ``-force`` to
``destroy``, a flag Terraform removed in 0.15, so destroy fails on any current Terraform; it
also knows nothing of ``-chdir`` or ``tflocal``. ``tests/integration/conftest.py`` puts this
folder on ``sys.path``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

#: ``terraform/`` of this checkout.
TERRAFORM_ROOT = Path(__file__).resolve().parents[3] / "terraform"
#: The environment every local run is declared in.
LOCALSTACK_ENV = TERRAFORM_ROOT / "envs" / "localstack"
#: Names a local mirror of the hashicorp/aws provider (``terraform init -plugin-dir``).
PLUGIN_DIR = "TF_PLUGIN_DIR"
_TIMEOUT = 900


def terraform_binary(*, prefer_tflocal: bool = False) -> str | None:
    """``terraform`` on PATH (``tflocal`` first when asked and installed), or None."""
    if prefer_tflocal and (tflocal := shutil.which("tflocal")):
        return tflocal
    return shutil.which("terraform")


def plugin_dir() -> Path | None:
    """The provider mirror ``TF_PLUGIN_DIR`` names, when it is a directory."""
    value = os.environ.get(PLUGIN_DIR)
    return Path(value) if value and Path(value).is_dir() else None


def run(
    binary: str,
    chdir: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run ``binary -chdir=CHDIR ARGS -no-color``; its stdout, or RuntimeError with its stderr."""
    full_env = {
        **os.environ,
        **(env or {}),
        "CHECKPOINT_DISABLE": "1",
        "TF_IN_AUTOMATION": "1",
    }
    config = full_env.get("TF_CLI_CONFIG_FILE")
    if config and not Path(config).exists():
        # A configuration that is not there only adds a warning to every call.
        del full_env["TF_CLI_CONFIG_FILE"]
    proc = subprocess.run(
        [binary, f"-chdir={chdir}", *args, "-no-color"],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{Path(binary).name} {args[0]} in {chdir} failed ({proc.returncode}):\n"
            f"{proc.stderr[-4000:]}"
        )
    return proc.stdout
