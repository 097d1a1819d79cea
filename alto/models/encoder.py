"""Point encoder: ResNet-FC PointNet with local pooling onto feature planes or a volume.

The upstream name is ``pointnet_local_pool`` (ConvONet's ``LocalPoolPointnet``, which
ALTO reuses). Every point gets a feature from a small residual MLP; between blocks
the features are pooled per grid cell (max or mean over the points sharing a cell,
on every plane) and concatenated back to each point. The final point latents are
averaged per cell onto the planes / volume and refined by a U-Net: ConvONet's plain
one, or ALTO's alternating one, which also keeps updating the point latents.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from alto.models.layers import ResnetBlockFC, UpstreamLayout, UpstreamTensor, prefixed
from alto.models.unet import UNet
from alto.ops import DEFAULT_PADDING, GRID, GridProjection

__all__ = ["UPSTREAM_UNET_PADDING", "PointEncoder"]

#: ALTO's U-Net blocks normalise the points with a hard-coded padding of 0.1, whatever
#: ``data.padding`` says
UPSTREAM_UNET_PADDING = 0.1


class PointEncoder(nn.Module):
    """Encode a point cloud ``(B, N, 3)`` into stacked feature grids ``(P * B, C, R, ...)``.

    Args:
        planes: canonical plane names (``('xz', 'xy', 'yz')``, a subset, or ``('grid',)``).
        resolution: plane or volume resolution R.
        c_dim: channels of the point latents and of the output grids.
        hidden_dim: width of the point MLP.
        n_blocks: number of residual blocks.
        pool_reduce: local pooling between blocks, ``'max'`` or ``'mean'`` (``scatter_type``).
        padding: padding of the unit cube (``data.padding``).
        unet: optional U-Net applied to the scattered grids.
        unet_padding: padding the alternating U-Net normalises with.
    """

    def __init__(
        self,
        planes: Sequence[str],
        resolution: int,
        c_dim: int,
        hidden_dim: int,
        *,
        n_blocks: int = 5,
        pool_reduce: str = "max",
        padding: float = DEFAULT_PADDING,
        unet: UNet | None = None,
        unet_padding: float = UPSTREAM_UNET_PADDING,
    ):
        super().__init__()
        if pool_reduce not in ("max", "mean"):
            raise ValueError(f"pool_reduce must be 'max' or 'mean', got {pool_reduce!r}")
        self.planes = tuple(planes)
        self.resolution = resolution
        self.padding = padding
        self.pool_reduce = pool_reduce
        self.unet_padding = unet_padding
        self.fc_pos = nn.Linear(3, 2 * hidden_dim)
        self.blocks = nn.ModuleList(ResnetBlockFC(2 * hidden_dim, hidden_dim) for _ in range(n_blocks))
        self.fc_c = nn.Linear(hidden_dim, c_dim)
        self.unet = unet

    def forward(self, inputs: Tensor) -> Tensor:
        projection = GridProjection(inputs, self.planes, self.padding)
        net = self.blocks[0](self.fc_pos(inputs))
        for block in self.blocks[1:]:
            pooled = projection.pool(net, self.resolution, self.pool_reduce)
            net = block(torch.cat([net, pooled], dim=-1))
        latents = self.fc_c(net)
        grids = projection.scatter(latents, self.resolution)
        if self.unet is None:
            return grids
        if not self.unet.alternating:
            return self.unet(grids)
        if self.unet_padding != self.padding:
            projection = GridProjection(inputs, self.planes, self.unet_padding)
        return self.unet(grids, projection, latents)

    def upstream_layout(self) -> UpstreamLayout:
        """Upstream names: ours are the same except inside the U-Net (``unet`` / ``unet3d``)."""
        own = tuple(
            UpstreamTensor(name, (name,)) for name, _ in self.named_parameters() if not name.startswith("unet.")
        )
        if self.unet is None:
            return UpstreamLayout(own)
        inner = prefixed(self.unet.upstream_layout(), "unet.", "unet3d." if self.planes == (GRID,) else "unet.")
        return UpstreamLayout(own + inner.tensors, inner.unused)
