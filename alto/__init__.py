"""ALTO: Alternating Latent Topologies for implicit 3D reconstruction.

The package is split by stage: :mod:`alto.config` (experiment configs),
:mod:`alto.data` (datasets in the Occupancy Networks / ConvONet layout),
:mod:`alto.models` (ALTO and ConvONet), :mod:`alto.train`, :mod:`alto.mesh`
(surface extraction), :mod:`alto.eval` (the paper's metrics) and :mod:`alto.cli`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alto.threads import default_wait_policy

if TYPE_CHECKING:
    import trimesh

__version__ = "0.1.0"

# before torch is imported: OpenMP reads its wait policy once, when it is loaded
default_wait_policy()


def reconstruct(points: Any, model: Any, **settings: Any) -> trimesh.Trimesh:
    """The mesh of ``points`` (N, 3) reconstructed by ``model``, in the points' own coordinates.

    See :func:`alto.reconstruction.api.reconstruct`; imported on first use, so that
    ``import alto`` stays light (no torch).
    """
    from alto.reconstruction.api import reconstruct as run

    return run(points, model, **settings)
