"""Time downloads over a local HTTP server: a whole file, and the rest after a break.

Serves a random payload from 127.0.0.1 with the tests' server
(``tests/download_helpers.py``, Range support and ETag), then reports, as medians
over ``--repeats`` runs:

* ``full``: :func:`alto.data.download.fetch` of the whole file (SHA-256 checked);
* ``resume``: the second call after the connection dropped at ``--break-at`` of the
  file: the bytes on disk are hashed again and only the rest is transferred;
* ``baseline`` (with ``--baseline FILE``): ``download(url, dest, sha256)`` of another
  implementation, e.g. the one before this change
  (``git show 6c6639e:alto/data/download.py > /tmp/download_before.py``).

    .venv/bin/python bench/download_resume.py --megabytes 200 --repeats 5
    .venv/bin/python bench/download_resume.py --baseline /tmp/download_before.py --json bench.json
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from alto.data.download import DownloadError, fetch
from alto.io import atomic_write

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from download_helpers import LocalServer  # the tests' server, found through the path above

#: Bytes per megabyte (decimal, as the sizes are quoted).
MEGABYTE = 1_000_000


def _baseline(path: Path) -> Callable[..., Path]:
    spec = importlib.util.spec_from_file_location("download_baseline", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.download


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=int, default=200, help="payload size (%(default)s MB)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per measurement (%(default)s)")
    parser.add_argument("--break-at", type=float, default=0.9, help="share of the file sent before the break")
    parser.add_argument("--baseline", type=Path, help="a module file with download(url, dest, sha256) to compare")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    data = np.random.default_rng(0).integers(0, 256, args.megabytes * MEGABYTE, dtype=np.uint8).tobytes()
    digest = hashlib.sha256(data).hexdigest()
    drop = int(args.break_at * len(data))
    baseline = _baseline(args.baseline) if args.baseline is not None else None
    times: dict[str, list[float]] = {"full_s": [], "resume_s": [], "baseline_full_s": []}
    with LocalServer() as server, tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / "payload.bin"

        def timed(key: str, run: Callable[[], object]) -> None:
            started = time.perf_counter()
            run()
            times[key].append(time.perf_counter() - started)
            dest.unlink()  # one file on disk at a time: no memory pressure from earlier runs

        for index in range(args.repeats):  # interleaved, so that load on the machine hits all alike
            url = server.serve(f"full{index}.bin", data)
            timed("full_s", lambda url=url: fetch(url, dest, digest))
            if baseline is not None:
                timed("baseline_full_s", lambda url=url: baseline(url, dest, digest))
            url = server.serve(f"resume{index}.bin", data, drop_after=drop)
            try:  # the break is not timed: only the call that finishes the download is
                fetch(url, dest)
            except DownloadError:
                pass
            timed("resume_s", lambda url=url: fetch(url, dest, digest))
    results = {key: statistics.median(values) for key, values in times.items() if values}
    results["full_mb_per_s"] = args.megabytes / results["full_s"]
    results["resume_vs_full"] = results["resume_s"] / results["full_s"]
    if "baseline_full_s" in results:
        results["full_vs_baseline"] = results["full_s"] / results["baseline_full_s"]
    settings = {"megabytes": args.megabytes, "repeats": args.repeats, "break_at": args.break_at}
    for key, value in results.items():
        print(f"{key:<20} {value:.3f}")
    if args.json is not None:
        with atomic_write(args.json) as handle:
            json.dump({"settings": settings, "results": results}, handle, indent=2)


if __name__ == "__main__":
    main()
