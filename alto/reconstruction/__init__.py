"""Reconstruct a mesh from your own point cloud (``alto reconstruct``, :func:`alto.reconstruct`)."""

from alto.reconstruction.api import Frame, Reconstruction, Reconstructor, load_model, reconstruct
from alto.reconstruction.pointcloud import POINT_FORMATS, clean_points, read_point_cloud

__all__ = [
    "POINT_FORMATS",
    "Frame",
    "Reconstruction",
    "Reconstructor",
    "clean_points",
    "load_model",
    "read_point_cloud",
    "reconstruct",
]
