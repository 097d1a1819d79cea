"""Geometry on meshes and point sets (NumPy side): inside tests, normalisation, sampling.

- :mod:`~alto.geometry.inside`: winding-number occupancy of points for a triangle mesh.
- :mod:`~alto.geometry.primitives` and :mod:`~alto.geometry.solid`: analytic primitives
  and their unions, with exact occupancy and exact uniform surface samples.
- :mod:`~alto.geometry.normalize`: the unit-cube frame (``loc``, ``scale``).
- :mod:`~alto.geometry.sampling`: uniform points in the padded cube, points on meshes.
- :mod:`~alto.geometry.repair`: make user meshes watertight or explain why not.
- :mod:`~alto.geometry.contour`: marching-cubes meshes of implicit solids.
"""

from alto.geometry.inside import points_inside_mesh, winding_numbers
from alto.geometry.normalize import bbox_loc_scale, from_unit_frame, normalize_mesh, to_unit_frame
from alto.geometry.sampling import UNIT_CUBE_PADDING, sample_mesh_surface, uniform_box_points
from alto.geometry.solid import Solid, sample_union_surfaces

__all__ = [
    "UNIT_CUBE_PADDING",
    "Solid",
    "bbox_loc_scale",
    "from_unit_frame",
    "normalize_mesh",
    "points_inside_mesh",
    "sample_mesh_surface",
    "sample_union_surfaces",
    "to_unit_frame",
    "uniform_box_points",
    "winding_numbers",
]
