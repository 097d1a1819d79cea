"""ALTO: Alternating Latent Topologies for implicit 3D reconstruction.

The package is split by stage: :mod:`alto.config` (experiment configs),
:mod:`alto.data` (datasets in the Occupancy Networks / ConvONet layout),
:mod:`alto.models` (ALTO and ConvONet), :mod:`alto.train`, :mod:`alto.mesh`
(surface extraction), :mod:`alto.eval` (the paper's metrics) and :mod:`alto.cli`.
"""

__version__ = "0.1.0"
