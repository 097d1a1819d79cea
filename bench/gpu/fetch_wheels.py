"""Download, here, the wheels that the lent GPU machine lacks, into ``.whl/``.

The device machine reaches no network: a package its image lacks travels as a wheel
in a folder carried with the working tree (64 MiB in all, the tree included). This
downloads the pinned list ``bench/gpu/requirements.txt`` for the device's Python
(CPython 3.12, manylinux x86-64), removes any other wheel from the folder (two
versions of one package stop the install there), checks that every dependency the
wheels declare is either among them or in the device image, and that wheels plus
working tree stay under the carry limit.

    .venv/bin/python bench/gpu/fetch_wheels.py        # or: make gpu-wheels

Then ``bench/gpu/check.sh`` on the device installs them (see docs/benchmarks_gpu.md).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from email.parser import Parser
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from alto.errors import InputError

REPO = Path(__file__).resolve().parents[2]
REQUIREMENTS = Path(__file__).with_name("requirements.txt")
WHEEL_DIR = REPO / ".whl"
#: the device's interpreter and platforms (manylinux tags are matched exactly by pip)
DEVICE_PYTHON = "3.12"
DEVICE_PLATFORMS = (
    "manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
    "manylinux1_x86_64",
)
#: environment markers of the device's Python, for the wheels' conditional dependencies
DEVICE_MARKERS = {
    "python_version": DEVICE_PYTHON, "python_full_version": f"{DEVICE_PYTHON}.3", "os_name": "posix",
    "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
    "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": "",
}
#: packages of the device image that the wheels depend on (the device library's KINDS.md)
DEVICE_HAS = frozenset({"attrs", "numpy", "scipy", "typing-extensions"})
#: what the device tool carries in one call: working tree plus carried folders
CARRY_LIMIT_BYTES = 64 * 2**20
MIB = 2**20


def read_requirements(path: Path = REQUIREMENTS) -> dict[str, str]:
    """``{canonical name: version}`` of the ``name==version`` lines of ``path``."""
    pins: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep or not name.strip() or not version.strip():
            raise InputError(f"{path}:{number}: expected 'name==version', got {line!r}")
        pins[canonicalize_name(name.strip())] = version.strip()
    return pins


def download(pins: dict[str, str], dest: Path) -> None:
    """``pip download`` the pinned wheels for the device's Python and platform into ``dest``."""
    platforms = [arg for tag in DEVICE_PLATFORMS for arg in ("--platform", tag)]
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
        "--python-version", DEVICE_PYTHON, "--implementation", "cp", *platforms, "-d", str(dest),
        *(f"{name}=={version}" for name, version in pins.items()),
    ]
    subprocess.run(command, check=True)


def prune(pins: dict[str, str], dest: Path) -> list[Path]:
    """Delete wheels of ``dest`` that are not pinned (other packages or versions); return the kept ones."""
    kept = []
    for wheel in sorted(dest.glob("*.whl")):
        name, version, _, _ = parse_wheel_filename(wheel.name)
        if pins.get(name) == str(version):
            kept.append(wheel)
        else:
            wheel.unlink()
    missing = sorted(set(pins) - {parse_wheel_filename(w.name)[0] for w in kept})
    if missing:
        raise InputError(f"{dest}: no wheel for {missing} after the download")
    return kept


def unmet_dependencies(wheels: Sequence[Path], pins: dict[str, str]) -> list[str]:
    """Dependencies (for the device's Python) that neither the wheels nor the device image provide."""
    unmet = []
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            metadata_name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            metadata = Parser().parsestr(archive.read(metadata_name).decode())
        for line in metadata.get_all("Requires-Dist") or []:
            requirement = Requirement(line)
            if requirement.marker is not None and not requirement.marker.evaluate(DEVICE_MARKERS):
                continue
            name = canonicalize_name(requirement.name)
            if name not in pins and name not in DEVICE_HAS:
                unmet.append(f"{wheel.name} needs {requirement}")
    return unmet


def travelling_tree_bytes(repo: Path = REPO) -> int:
    """Bytes of what the device tool sends: tracked files and untracked files git does not ignore."""
    listing = subprocess.run(
        ["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True, capture_output=True,
    ).stdout.decode()
    return sum((repo / name).stat().st_size for name in listing.split("\0") if name and (repo / name).is_file())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=WHEEL_DIR, help="wheel folder (default: .whl/ in the repo)")
    args = parser.parse_args(argv)
    pins = read_requirements()
    args.dest.mkdir(parents=True, exist_ok=True)
    download(pins, args.dest)
    wheels = prune(pins, args.dest)
    unmet = unmet_dependencies(wheels, pins)
    if unmet:
        raise InputError(f"{REQUIREMENTS}: add these to the list (or to DEVICE_HAS if the image has them): {unmet}")
    wheel_bytes = sum(w.stat().st_size for w in wheels)
    tree_bytes = travelling_tree_bytes()
    for wheel in wheels:
        print(f"{wheel.stat().st_size / MIB:8.2f} MiB  {wheel.name}")
    print(f"wheels {wheel_bytes / MIB:.1f} MiB + working tree {tree_bytes / MIB:.1f} MiB "
          f"= {(wheel_bytes + tree_bytes) / MIB:.1f} MiB of the {CARRY_LIMIT_BYTES / MIB:.0f} MiB carry limit")
    if wheel_bytes + tree_bytes > CARRY_LIMIT_BYTES:
        raise InputError(f"{args.dest}: wheels and working tree exceed the device's {CARRY_LIMIT_BYTES / MIB:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
