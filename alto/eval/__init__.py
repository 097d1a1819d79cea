"""The paper's evaluation: per-object metric rows and per-class tables.

:func:`evaluate_object` turns one predicted mesh and its ground truth into a row
(Chamfer-L1/L2, normal consistency, F-scores at 1%, 1.5% and 2%, IoU);
:func:`write_rows_csv` / :func:`read_rows_csv` store and gather rows, and
:func:`aggregate_rows` makes the per-class table with failures counted.
"""

from alto.eval.evaluator import (
    N_SURFACE_SAMPLES,
    EvalSettings,
    evaluate_object,
    load_mesh,
    rng_for_object,
)
from alto.eval.metrics import (
    CHAMFER_L1_SCALES,
    FAILURE_PENALTIES,
    FSCORE_THRESHOLDS,
    METRIC_NAMES,
    occupancy_iou,
    surface_metrics,
)
from alto.eval.sampling import (
    WALL_CROP_EPS,
    SurfaceSamples,
    TriangleSurface,
    crop_to_reference_bounds,
    sample_surface,
    sample_surface_without_walls,
)
from alto.eval.tables import (
    GENERATION_SECONDS,
    MEAN_OF_CLASSES,
    MEAN_OF_OBJECTS,
    ROW_COLUMNS,
    aggregate_rows,
    check_rows,
    read_rows_csv,
    write_rows_csv,
    write_table_csv,
)

__all__ = [
    "CHAMFER_L1_SCALES",
    "FAILURE_PENALTIES",
    "FSCORE_THRESHOLDS",
    "GENERATION_SECONDS",
    "MEAN_OF_CLASSES",
    "MEAN_OF_OBJECTS",
    "METRIC_NAMES",
    "N_SURFACE_SAMPLES",
    "ROW_COLUMNS",
    "WALL_CROP_EPS",
    "EvalSettings",
    "SurfaceSamples",
    "TriangleSurface",
    "aggregate_rows",
    "check_rows",
    "crop_to_reference_bounds",
    "evaluate_object",
    "load_mesh",
    "occupancy_iou",
    "read_rows_csv",
    "rng_for_object",
    "sample_surface",
    "sample_surface_without_walls",
    "surface_metrics",
    "write_rows_csv",
    "write_table_csv",
]
