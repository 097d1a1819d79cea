"""Small tensor ops shared by the models: point <-> grid projection and the scatter backend.

:mod:`alto.ops.grid` normalises point coordinates for the feature planes or the
volume, scatters point features into cells, samples grids at points and gathers
cell neighbourhoods; :mod:`alto.ops.sparse` holds the sparse row maps that sampling
and mean scattering are made of; :mod:`alto.ops.scatter` holds the scatter
reductions and the switch between native torch and the optional torch-scatter package.
"""

from alto.ops.grid import (
    DEFAULT_PADDING,
    FEATURE_AXES,
    GRID,
    GRID_CLAMP_EPS,
    PLANE_CLAMP_EPS,
    PLANES,
    SAMPLE_MODES,
    GridProjection,
    canonical_planes,
    cell_index,
    clamp_eps,
    flatten_cells,
    grid_rows,
    interpolation_corners,
    neighbour_offsets,
    normalize_coordinates,
    rows_to_grids,
)
from alto.ops.scatter import (
    BACKENDS,
    ENV_VAR,
    get_scatter_backend,
    scatter_max,
    scatter_mean,
    set_scatter_backend,
    torch_scatter_available,
)
from alto.ops.sparse import RowMap

__all__ = [
    "BACKENDS",
    "DEFAULT_PADDING",
    "ENV_VAR",
    "FEATURE_AXES",
    "GRID",
    "GRID_CLAMP_EPS",
    "PLANES",
    "PLANE_CLAMP_EPS",
    "SAMPLE_MODES",
    "GridProjection",
    "RowMap",
    "canonical_planes",
    "cell_index",
    "clamp_eps",
    "flatten_cells",
    "get_scatter_backend",
    "grid_rows",
    "interpolation_corners",
    "neighbour_offsets",
    "normalize_coordinates",
    "rows_to_grids",
    "scatter_max",
    "scatter_mean",
    "set_scatter_backend",
    "torch_scatter_available",
]
