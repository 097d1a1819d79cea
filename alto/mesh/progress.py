"""Progress lines of long extractions, and the guard against a runaway surface band.

:class:`ExtractionProgress` is the one progress mechanism of every extractor. The
:class:`~alto.mesh.field.FieldEvaluator` feeds it the points it evaluates; the
extractor tells it where it is (``stage``: a growth round, a subdivision round, a
refinement step, a block) and how many points the stage will have evaluated (exact,
or only an upper bound). It writes plain ``logging`` lines (no terminal control
codes, so SLURM logs stay readable), none before an extraction has run
:data:`PROGRESS_AFTER_SECONDS`, then at most one every :data:`PROGRESS_EVERY_SECONDS`:
short extractions stay silent.

:class:`BandGuard` stops an extraction whose band grows beyond what a real surface
can have at the lattice's resolution. A surface of area ``A`` inside a cube of side
``L`` sampled with ``R`` points per axis crosses about ``A / L^2 * (R - 1)^2`` cells;
the band an extractor evaluates around it is ``thickness`` cells deep (region growing:
every point within ``2 * dilation`` cells of the surface on either side, so ``4 *
dilation``; MISE: about 6, the corners of the straddling cells of its last levels).
Real shapes have ``A / L^2`` of a few box faces (a closed convex surface in the box at
most 6, the box's own surface; the torus and box of ``bench/extract.py`` 3.2, the
demo shapes up to about 4.4); a field with surface almost everywhere (a threshold the
field never leaves, an input in the wrong frame or scale) fills the lattice, ``R^3``
points. :data:`MAX_SURFACE_AREA` puts the limit at twice the box's own surface, so
the guard only bites from about ``12 * thickness`` points per axis on. A flat field
whose surface has the area of a real shape (seen with untrained weights) is not
stopped: the progress lines show what it costs.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from time import monotonic

from alto.errors import ConfigError, ExtractionError

__all__ = [
    "MAX_SURFACE_AREA",
    "PROGRESS_AFTER_SECONDS",
    "PROGRESS_EVERY_SECONDS",
    "BandGuard",
    "ExtractionProgress",
    "band_limit_fraction",
    "check_band_fraction",
]

logger = logging.getLogger(__name__)

#: No progress line before an extraction has run this long (seconds).
PROGRESS_AFTER_SECONDS = 5.0
#: Then at most one line per this many seconds.
PROGRESS_EVERY_SECONDS = 10.0
#: Largest surface area, in faces of the lattice's cube, that the band guard lets an
#: extraction find: twice the area of the cube's own six faces.
MAX_SURFACE_AREA = 12.0

#: A clock in seconds (``time.monotonic`` unless one is given).
Clock = Callable[[], float]


class ExtractionProgress:
    """Throttled progress lines of one extraction named ``name`` (e.g. ``"region_growing 256x256x256"``).

    ``lattice_size`` (points of the lattice) turns the band into a share of the lattice.
    """

    def __init__(
        self,
        name: str,
        lattice_size: int | None = None,
        *,
        clock: Clock | None = None,
        after: float = PROGRESS_AFTER_SECONDS,
        every: float = PROGRESS_EVERY_SECONDS,
    ) -> None:
        self.name = name
        self.lattice_size = lattice_size
        self.clock = monotonic if clock is None else clock
        self.after = after
        self.every = every
        self.started = self.clock()
        self.points = 0
        self.lines = 0
        self._stage = ""
        self._band: int | None = None
        self._total: int | None = None
        self._upper_bound = False
        self._stage_started = self.started
        self._stage_points = 0
        self._last_line: float | None = None

    def evaluated(self, count: int) -> None:
        """``count`` more points evaluated (called by the evaluator after each chunk)."""
        self.points += count
        self.report()

    def stage(
        self,
        stage: str,
        *,
        band: int | None = None,
        total_points: int | None = None,
        upper_bound: bool = False,
        new_stage: bool = False,
    ) -> None:
        """Where the extraction is (``stage``, e.g. ``"round 7"``), how many lattice points
        it knows (``band``) and how many points it will have evaluated at the end of the
        stage (``total_points``; with ``upper_bound`` only a bound, so the time left is
        one too). ``new_stage`` restarts the speed estimate (a stage of another speed).
        """
        if new_stage:
            self._stage_started = self.clock()
            self._stage_points = self.points
        self._stage = stage
        self._band = band
        self._total = total_points
        self._upper_bound = upper_bound
        self.report()

    def seconds_left(self, now: float | None = None) -> float | None:
        """Seconds to ``total_points`` at the speed of the current stage so far, or None."""
        done = self.points - self._stage_points
        if self._total is None or done <= 0:
            return None
        now = self.clock() if now is None else now
        return max(0, self._total - self.points) * (now - self._stage_started) / done

    def report(self) -> None:
        """Log a line if the extraction is long enough and the last line old enough."""
        now = self.clock()
        if now - self.started < self.after:
            return
        if self._last_line is not None and now - self._last_line < self.every:
            return
        self._last_line = now
        self.lines += 1
        logger.info("%s", self.line(now))

    def line(self, now: float | None = None) -> str:
        """The progress line: stage, points evaluated, band, elapsed and remaining time."""
        now = self.clock() if now is None else now
        parts = [f"{self.name}: {self._stage}" if self._stage else self.name, f"{self.points:,} points evaluated"]
        if self._band is not None:
            share = f" ({100 * self._band / self.lattice_size:.1f} % of the lattice)" if self.lattice_size else ""
            parts.append(f"band {self._band:,} points{share}")
        parts.append(f"{now - self.started:.0f} s")
        left = self.seconds_left(now)
        if left is not None:
            parts.append(f"{'at most' if self._upper_bound else 'about'} {math.ceil(left)} s left")
        return ", ".join(parts)


def check_band_fraction(owner: str, value: float | None) -> None:
    """Raise ConfigError unless ``value`` (``max_band_fraction``) is None or in (0, 1]."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise ConfigError(
            f"{owner}: max_band_fraction must be a number in (0, 1] (1 turns the band guard off) "
            f"or null for the limit of a surface of {MAX_SURFACE_AREA:g} box faces, got {value!r}"
        )


def band_limit_fraction(points_per_axis: int, thickness: float) -> float:
    """Share of a ``points_per_axis``^3 lattice that a band ``thickness`` cells deep
    around a surface of :data:`MAX_SURFACE_AREA` box faces can fill (at most 1)."""
    cells = max(1, points_per_axis - 1)
    return min(1.0, MAX_SURFACE_AREA * thickness * cells**2 / points_per_axis**3)


@dataclass(frozen=True)
class BandGuard:
    """Stops an extraction whose known points exceed ``limit``: ``fraction`` of the
    lattice plus ``base`` (points the method evaluates whatever the surface).

    ``extractor`` names the extraction (method and lattice), ``default`` tells whether
    the fraction is the geometric limit or the user's ``max_band_fraction``.
    """

    extractor: str
    lattice_size: int
    fraction: float
    level: float
    default: bool
    base: int = 0

    @classmethod
    def build(
        cls,
        extractor: str,
        points_per_axis: int,
        lattice_size: int,
        thickness: float,
        chosen: float | None,
        level: float,
        base: int = 0,
    ) -> BandGuard:
        """The guard of an extractor: ``chosen`` (``max_band_fraction``) or the geometric limit."""
        fraction = band_limit_fraction(points_per_axis, thickness) if chosen is None else float(chosen)
        return cls(extractor, lattice_size, fraction, level, chosen is None, base)

    @property
    def limit(self) -> int:
        """Most lattice points the extraction may know."""
        return min(self.lattice_size, math.floor(self.fraction * self.lattice_size) + self.base)

    def check(self, known: int, where: str) -> None:
        """Raise :class:`~alto.errors.ExtractionError` if ``known`` points exceed the limit.

        Extractors call it *before* evaluating a batch, with the points known once it
        is evaluated, so a runaway field is stopped before the expensive part.
        """
        if known <= self.limit:
            return
        why = (
            f"what a surface of up to {MAX_SURFACE_AREA:g} box faces of area can have at this resolution"
            if self.default
            else "the max_band_fraction set"
        )
        raise ExtractionError(
            f"{self.extractor}: stopped at {where}: the surface band would hold {known:,} lattice points "
            f"({100 * known / self.lattice_size:.1f} % of the lattice), more than the limit of {self.limit:,} "
            f"({100 * self.limit / self.lattice_size:.1f} %, {why}). The field has surface almost everywhere "
            f"at level {self.level:.4g}: check that the checkpoint is trained and matches its config, that the input "
            "is in the model's frame and scale (objects: normalised to the unit cube; scenes: --scale), "
            "and the threshold. To extract anyway, raise max_band_fraction (alto reconstruct "
            "--max-band-fraction, or generation.extractor.max_band_fraction; 1 turns this check off)."
        )
