"""Geometry on meshes and point sets (NumPy side): inside tests, normalisation, sampling."""

from alto.geometry.inside import points_inside_mesh

__all__ = ["points_inside_mesh"]
