"""The Lambda deployment package: shardflow's code and its dependencies in one zip.

Dependencies are installed with pip for the Lambda runtime, not for this machine
(``--platform manylinux2014_x86_64 --only-binary=:all: --python-version 3.11
--implementation cp --target``): manylinux2014 wheels run on every Lambda Python runtime
(Amazon Linux 2 has glibc 2.26). boto3 and botocore are left out (the runtime provides
them) unless asked for. The zip is reproducible: entries sorted, timestamps fixed
(``SOURCE_DATE_EPOCH`` or 1980-01-01), permissions normalised, no bytecode, so the same
inputs give the same bytes and Terraform's ``source_code_hash`` changes only with them.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from shardflow.errors import ConfigError, ShardflowError

#: Packages whose code goes into the zip (the runtime core and the consumers; the tooling in
#: ``shardflow_tools`` never), and what of them is left out: the KCL consumer (it does not run
#: in Lambda) and the aliases of modules that moved to ``shardflow_tools``.
PACKAGES: Final = ("shardflow", "consumers")
EXCLUDED_MODULES: Final = frozenset(
    {
        "consumers/kcl",
        "consumers/lambda_esm",
        "consumers/lambda_handler/resources.py",
        "shardflow/cli",
        "shardflow/__main__.py",
        "shardflow/_alias.py",
        *(
            f"shardflow/{name}.py"
            for name in (
                "bootstrap",
                "emulator",
                "emulator_h2",
                "emulator_resharding",
                "packaging",
                "samples",
            )
        ),
    }
)
#: Where ``shardflow package lambda`` writes the zip by default.
DEFAULT_OUTPUT: Final = Path("dist/shardflow-lambda.zip")
#: The runtime provides these; installing them would only grow the zip.
RUNTIME_PROVIDED: Final = frozenset({"boto3", "botocore", "s3transfer"})
#: The project's extras a Lambda function needs.
LAMBDA_EXTRAS: Final = ("lambda",)
#: Lambda's limits: 50 MB for a zip uploaded directly, 250 MB unzipped.
MAX_DIRECT_UPLOAD_BYTES: Final = 50 * 1024 * 1024
MAX_UNZIPPED_BYTES: Final = 250 * 1024 * 1024
#: The earliest time a zip entry can carry (1980-01-01 00:00:00).
_ZIP_EPOCH: Final = 315532800
_SKIP_SUFFIXES: Final = (".pyc", ".pyo", ".pyx", ".pxd", ".pxi")
_SKIP_DIRS: Final = frozenset({"__pycache__", "tests", "include", "bin"})

_FALLBACK_REQUIREMENTS: Final = {
    "": ("boto3>=1.34", "orjson>=3.9"),
    "lambda": ("aws-lambda-powertools>=3.0",),
    "parquet": ("pyarrow>=15",),
}


class PackagingError(ShardflowError):
    """The package could not be built (pip failed, a limit was exceeded)."""


@dataclass(frozen=True, slots=True)
class PackageOptions:
    """What goes into the zip and for which runtime."""

    output: Path = DEFAULT_OUTPUT
    python_version: str = "3.11"
    platform: str = "manylinux2014_x86_64"
    #: pyarrow, for Parquet output (the sink's default format).
    parquet: bool = True
    #: aws-xray-sdk, for SHARDFLOW_TRACING=true.
    tracing: bool = False
    #: boto3 and botocore pinned in the zip instead of the runtime's.
    boto3: bool = False
    extra_requirements: tuple[str, ...] = ()
    #: Passed to pip (``--no-index``, ``--find-links DIR``, ``--index-url URL``, ...).
    pip_args: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        parts = self.python_version.split(".")
        if len(parts) != 2 or not all(p.isdigit() for p in parts) or parts[0] != "3":
            raise ConfigError("python_version", f"expected 3.N, got {self.python_version!r}")
        if not self.platform.startswith("manylinux"):
            raise ConfigError(
                "platform", f"Lambda runs Linux: expected manylinux*, got {self.platform!r}"
            )


@dataclass(frozen=True, slots=True)
class PackageResult:
    """The zip built: where, how big, what it holds and its hash as Terraform wants it."""

    path: Path
    size: int
    unzipped_size: int
    files: int
    requirements: tuple[str, ...]
    #: base64 of the SHA-256, as Terraform's ``filebase64sha256()``.
    sha256_base64: str


def _requirement_name(requirement: str) -> str:
    name = requirement
    for sep in "<>=!~[; ":
        name = name.split(sep, 1)[0]
    return name.strip().lower().replace("_", "-")


def requirements(options: PackageOptions) -> tuple[str, ...]:
    """The dependencies to install: the project's core and ``lambda`` requirements, plus
    ``parquet`` and tracing when asked, minus what the runtime provides (unless asked)."""
    extras = set(LAMBDA_EXTRAS)
    if options.parquet:
        extras.add("parquet")
    try:
        declared = importlib.metadata.requires("shardflow") or []
    except importlib.metadata.PackageNotFoundError:
        declared = []
    chosen: list[str] = []
    if declared:
        for requirement in declared:
            spec, _, marker = requirement.partition(";")
            extra = ""
            if "extra" in marker:
                extra = marker.split("==", 1)[1].strip().strip("\"'")
            if extra == "" or extra in extras:
                chosen.append(spec.strip())
    else:
        for extra in ("", *sorted(extras)):
            chosen += _FALLBACK_REQUIREMENTS.get(extra, ())
    if options.tracing:
        chosen.append("aws-xray-sdk>=2.12")
    chosen += options.extra_requirements
    if not options.boto3:
        chosen = [r for r in chosen if _requirement_name(r) not in RUNTIME_PROVIDED]
    return tuple(dict.fromkeys(chosen))


def pip_command(target: Path, reqs: Sequence[str], options: PackageOptions) -> list[str]:
    """The pip invocation that installs ``reqs`` for the Lambda runtime into ``target``."""
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--target",
        str(target),
        "--platform",
        options.platform,
        "--implementation",
        "cp",
        "--python-version",
        options.python_version,
        "--only-binary=:all:",
        *options.pip_args,
        *reqs,
    ]


def _install(target: Path, reqs: Sequence[str], options: PackageOptions) -> None:
    if not reqs:
        return
    cmd = pip_command(target, reqs, options)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise PackagingError(
            f"pip could not install {' '.join(reqs)} for {options.platform} / Python "
            f"{options.python_version}:\n{proc.stderr.strip() or proc.stdout.strip()}"
        )


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise PackagingError(f"package {name!r} is not importable here; install shardflow")
    return Path(next(iter(spec.submodule_search_locations)))


def _copy_sources(target: Path) -> None:
    for name in PACKAGES:
        source = _package_dir(name)
        for path in sorted(source.rglob("*")):
            rel = path.relative_to(source.parent).as_posix()
            if (
                path.is_dir()
                or _skipped(rel)
                or any(rel == ex or rel.startswith(ex + "/") for ex in EXCLUDED_MODULES)
            ):
                continue
            dest = target / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)


def _skipped(rel: str) -> bool:
    parts = rel.split("/")
    return rel.endswith(_SKIP_SUFFIXES) or any(p in _SKIP_DIRS for p in parts[:-1])


def _drop_runtime_provided(target: Path) -> None:
    for entry in target.iterdir():
        name = entry.name.split("-", 1)[0].lower().replace("_", "-")
        if name in RUNTIME_PROVIDED:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def write_zip(source: Path, output: Path, *, epoch: int | None = None) -> tuple[int, int]:
    """Zip ``source`` deterministically into ``output``; return (files, unzipped bytes)."""
    stamp = time.gmtime(max(epoch if epoch is not None else _ZIP_EPOCH, _ZIP_EPOCH))[:6]
    files = sorted(
        p
        for p in source.rglob("*")
        if p.is_file() and not _skipped(p.relative_to(source).as_posix())
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    total = 0
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in files:
            arcname = path.relative_to(source).as_posix()
            info = zipfile.ZipInfo(arcname, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            executable = path.stat().st_mode & 0o111
            info.external_attr = ((0o100755 if executable else 0o100644) & 0xFFFF) << 16
            info.create_system = 3  # Unix, so the permissions above are honoured
            data = path.read_bytes()
            total += len(data)
            zf.writestr(info, data, compresslevel=9)
    partial.replace(output)
    return len(files), total


def _sha256_base64(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode()


def build_lambda_package(
    options: PackageOptions,
    *,
    installer: Callable[[Path, Sequence[str], PackageOptions], None] | None = None,
) -> PackageResult:
    """Build the deployment zip; ``installer`` installs the requirements (pip by default)."""
    reqs = requirements(options)
    installer = installer or _install
    with tempfile.TemporaryDirectory(prefix="shardflow-lambda-") as tmp:
        staging = Path(tmp) / "package"
        staging.mkdir()
        installer(staging, reqs, options)
        if not options.boto3:
            _drop_runtime_provided(staging)
        _copy_sources(staging)
        epoch_text = os.environ.get("SOURCE_DATE_EPOCH")
        epoch = int(epoch_text) if epoch_text and epoch_text.isdigit() else None
        files, unzipped = write_zip(staging, options.output, epoch=epoch)
    if unzipped > MAX_UNZIPPED_BYTES:
        raise PackagingError(
            f"{options.output} unzips to {unzipped / 2**20:.1f} MiB, over Lambda's "
            f"{MAX_UNZIPPED_BYTES / 2**20:.0f} MiB limit (try --no-parquet)"
        )
    return PackageResult(
        path=options.output,
        size=options.output.stat().st_size,
        unzipped_size=unzipped,
        files=files,
        requirements=reqs,
        sha256_base64=_sha256_base64(options.output),
    )
