"""U-Nets over feature planes (2D) or the feature volume (3D): plain and alternating.

One implementation covers the four published variants:

* ConvONet's 2D U-Net (``unet``, after jaxony/unet-pytorch) and 3D U-Net
  (``unet3d``, after wolny/pytorch-3dunet): convolve, pool, upsample, merge skips.
* ALTO's alternating 2D and 3D U-Nets: at every level after the convolutions the
  grids are sampled at the input points, the point latents are updated with an MLP
  plus a linear map of the previous level's latents, and the latents are scattered
  onto the grids again (mean per cell); each level also adds a 1x1-convolved residual
  of the previous level's convolution output. The last level of the up path skips
  the point step.

The 2D and 3D families differ in conventions that the trained weights depend on,
collected in :class:`UNetStyle`. Where levels pool is set by ``full_res_levels``:
the first ``full_res_levels`` levels keep the input resolution and every later
level halves it (ConvONet: 1; ALTO: 2, which is what its hard-coded level checks
amount to for its only published depth, 4).

All planes of a batch go through the shared weights as one batch ``(P * B, C, R, R)``.
In ALTO the planes are coupled only through the point step, which sums the
samples of all planes (see :meth:`GridProjection.sample_sum`).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from alto.models.layers import UpstreamLayout, UpstreamTensor, point_mlp
from alto.ops import GridProjection

__all__ = [
    "CONV_KERNEL",
    "LAYER_ORDER_CHARS",
    "UNET_2D",
    "UNET_3D",
    "ConvLayer",
    "UNet",
    "UNetStyle",
    "conv_layer",
    "validate_layer_order",
]

#: kernel size of the U-Net convolutions (padding keeps the size)
CONV_KERNEL = 3
#: size and stride of max pooling and of the learned (transposed-convolution) upsampling
POOL = 2
#: negative slope of the LeakyReLU option of pytorch-3dunet's layer orders ('l')
LEAKY_RELU_SLOPE = 0.1
#: layer-order letters: GroupNorm, convolution, ReLU, LeakyReLU, ELU
LAYER_ORDER_CHARS = "gcrle"


@dataclass(frozen=True)
class UNetStyle:
    """Conventions of one U-Net family that the published weights depend on.

    Attributes:
        dims: 2 (planes) or 3 (volume).
        layer_order: default order of one conv layer: ``'cr'`` conv (with bias) + ReLU;
            ``'gcr'`` GroupNorm + conv (no bias) + ReLU.
        learned_upsampling: upsample with a 2x2 stride-2 transposed convolution that also
            halves the channels (a 1x1 convolution where no upsampling is needed);
            otherwise nearest-neighbour interpolation keeps the channels.
        skip_first: concatenate ``(skip, upsampled)`` instead of ``(upsampled, skip)``.
        halve_first_conv: on the down path the first conv outputs ``max(out // 2, in)``
            channels instead of ``out``.
        xavier_init: plain (not transposed) convolutions start Xavier-normal with zero bias.
        channels_last: run on channels-last memory. Faster on CPU for the 2D family, and
            the layout in which the point step's cell rows are views of the grids; the 3D
            family keeps the standard layout because of its GroupNorm (see :class:`ConvLayer`).
    """

    dims: int
    layer_order: str
    learned_upsampling: bool
    skip_first: bool
    halve_first_conv: bool
    xavier_init: bool
    channels_last: bool

    @property
    def memory_format(self) -> torch.memory_format:
        """The memory format of the grids inside the U-Net."""
        if not self.channels_last:
            return torch.contiguous_format
        return torch.channels_last if self.dims == 2 else torch.channels_last_3d


#: ConvONet / ALTO ``unet`` (jaxony/unet-pytorch conventions)
UNET_2D = UNetStyle(
    dims=2,
    layer_order="cr",
    learned_upsampling=True,
    skip_first=False,
    halve_first_conv=False,
    xavier_init=True,
    channels_last=True,
)
#: ConvONet / ALTO ``unet3d`` (wolny/pytorch-3dunet conventions)
UNET_3D = UNetStyle(
    dims=3,
    layer_order="gcr",
    learned_upsampling=False,
    skip_first=True,
    halve_first_conv=True,
    xavier_init=False,
    channels_last=False,
)

_CONV = {2: nn.Conv2d, 3: nn.Conv3d}
_CONV_T = {2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}


def validate_layer_order(order: str) -> None:
    """Raise ValueError unless ``order`` is one conv plus at most one norm and one activation."""
    counts = {ch: order.count(ch) for ch in LAYER_ORDER_CHARS}
    if (
        set(order) - set(LAYER_ORDER_CHARS)
        or counts["c"] != 1
        or counts["g"] > 1
        or counts["r"] + counts["l"] + counts["e"] > 1
        or order[0] in "rle"
    ):
        raise ValueError(
            f"layer order {order!r} is not supported; expected one 'c' (convolution), at most one "
            "'g' (GroupNorm) and at most one of 'r', 'l', 'e' (ReLU, LeakyReLU, ELU), "
            "not starting with the activation"
        )


class ConvLayer(nn.Sequential):
    """One conv layer: children named ``norm`` / ``conv`` / ``act`` in the configured order.

    GroupNorm always gets the standard contiguous layout, also when the convolutions
    run channels-last (e.g. weights converted for speed): PyTorch's channels-last
    GroupNorm kernel loses precision (errors around 1e-5 of the activations, amplified
    to 1e-4 over a 3D U-Net), the contiguous one does not.
    """

    def forward(self, x: Tensor) -> Tensor:
        for name, module in self.named_children():
            x = module(x.contiguous() if name == "norm" else x)
        return x


def conv_layer(dims: int, cin: int, cout: int, order: str, num_groups: int) -> ConvLayer:
    """One conv layer in ``order`` (e.g. ``'gcr'``).

    The convolution has a bias only without a norm layer; a GroupNorm over fewer
    channels than ``num_groups`` uses one group (pytorch-3dunet's rule).
    """
    validate_layer_order(order)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for i, ch in enumerate(order):
        if ch == "c":
            layers["conv"] = _CONV[dims](cin, cout, CONV_KERNEL, padding=CONV_KERNEL // 2, bias="g" not in order)
        elif ch == "g":
            channels = cin if i < order.index("c") else cout
            groups = num_groups if channels >= num_groups else 1
            if channels % groups:
                raise ValueError(f"GroupNorm: {channels} channels do not split into {groups} groups")
            layers["norm"] = nn.GroupNorm(groups, channels)
        elif ch == "r":
            layers["act"] = nn.ReLU(inplace=True)
        elif ch == "l":
            layers["act"] = nn.LeakyReLU(LEAKY_RELU_SLOPE, inplace=True)
        else:
            layers["act"] = nn.ELU(inplace=True)
    return ConvLayer(layers)


class _Level(nn.Module):
    """The modules of one U-Net level; absent parts are None.

    ``up``: upsampling of the path from below (up levels, learned style only);
    ``block``: the two conv layers; ``residual``: 1x1 (or transposed) conv of the
    previous level's conv output (alternating only); ``point_mlp`` and
    ``point_skip``: the point step (alternating only).
    """

    block: nn.Module
    up: nn.Module | None
    residual: nn.Module | None
    point_mlp: nn.Module | None
    point_skip: nn.Module | None

    def __init__(
        self,
        resample: bool,
        block: nn.Module,
        up: nn.Module | None = None,
        residual: nn.Module | None = None,
        point_mlp: nn.Module | None = None,
        point_skip: nn.Module | None = None,
    ):
        super().__init__()
        self.resample = resample
        self.up = up
        self.block = block
        self.residual = residual
        self.point_mlp = point_mlp
        self.point_skip = point_skip


def _levels(path: nn.ModuleList) -> list[_Level]:
    """The levels of a U-Net path (``UNet.down`` or ``UNet.up``), typed as such."""
    return [level for level in path if isinstance(level, _Level)]


class UNet(nn.Module):
    """U-Net over stacked grids ``(N, C, R, ...)``, optionally alternating with point latents.

    Args:
        style: :data:`UNET_2D` or :data:`UNET_3D`.
        in_channels: channels of the input grids (and of the point latents, if alternating).
        out_channels: channels of the output grids (final 1x1 convolution).
        levels: number of levels (upstream ``depth`` / ``num_levels``).
        base_channels: channels of the first level, doubled at each level (``start_filts``
            / ``f_maps``).
        full_res_levels: leading levels at the input resolution; later levels halve it.
        layer_order: conv layer order (default: the style's).
        num_groups: GroupNorm groups.
        merge: ``'concat'`` or ``'add'`` (learned upsampling only) for skip connections.
        alternating: ALTO's point step and level residuals.
    """

    def __init__(
        self,
        style: UNetStyle,
        in_channels: int,
        out_channels: int,
        levels: int,
        base_channels: int,
        *,
        full_res_levels: int = 1,
        layer_order: str | None = None,
        num_groups: int = 8,
        merge: str = "concat",
        alternating: bool = False,
    ):
        super().__init__()
        if levels < 1 or full_res_levels < 1:
            raise ValueError(f"need levels >= 1 and full_res_levels >= 1, got {levels}, {full_res_levels}")
        if merge not in ("concat", "add") or (merge == "add" and not style.learned_upsampling):
            raise ValueError(f"merge mode {merge!r} is not supported by this U-Net style")
        self.style = style
        self.levels = levels
        self.full_res_levels = full_res_levels
        self.merge = merge
        self.alternating = alternating
        order = style.layer_order if layer_order is None else layer_order
        dims = style.dims
        conv1x1 = _CONV[dims]

        def block(cin: int, mid: int, cout: int) -> nn.Sequential:
            return nn.Sequential(
                conv_layer(dims, cin, mid, order, num_groups),
                conv_layer(dims, mid, cout, order, num_groups),
            )

        def resampler(cin: int, cout: int, resample: bool) -> nn.Module:
            if style.learned_upsampling and resample:
                return _CONV_T[dims](cin, cout, POOL, stride=POOL)
            return conv1x1(cin, cout, 1)

        channels = [base_channels * 2**k for k in range(levels)]
        down = []
        for k, cout in enumerate(channels):
            cin = in_channels if k == 0 else channels[k - 1]
            mid = max(cout // 2, cin) if style.halve_first_conv else cout
            down.append(
                _Level(
                    resample=self.downsamples(k),
                    block=block(cin, mid, cout),
                    residual=conv1x1(cin, cout, 1) if alternating and k > 0 else None,
                    point_mlp=point_mlp(cout) if alternating else None,
                    point_skip=nn.Linear(cin, cout) if alternating else None,
                )
            )
        up = []
        for j in range(levels - 1):
            cin, cout = channels[levels - 1 - j], channels[levels - 2 - j]
            resample = self.downsamples(levels - 1 - j)
            point_step = alternating and j < levels - 2
            joined = cout if style.learned_upsampling else cin
            up.append(
                _Level(
                    resample=resample,
                    up=resampler(cin, cout, resample) if style.learned_upsampling else None,
                    block=block(joined + cout if merge == "concat" else cout, cout, cout),
                    residual=resampler(cin, cout, resample) if alternating else None,
                    point_mlp=point_mlp(cout) if point_step else None,
                    point_skip=nn.Linear(cin, cout) if point_step else None,
                )
            )
        self.down = nn.ModuleList(down)
        self.up = nn.ModuleList(up)
        self.final = conv1x1(channels[0], out_channels, 1)

    def downsamples(self, level: int) -> bool:
        """Whether down level ``level`` starts by halving the resolution."""
        return level >= self.full_res_levels

    @property
    def total_downsampling(self) -> int:
        """Factor by which the coarsest level is smaller than the input."""
        return 2 ** max(0, self.levels - self.full_res_levels)

    def forward(self, grids: Tensor, projection: GridProjection | None = None, latents: Tensor | None = None) -> Tensor:
        """Run the U-Net on ``grids (N, C, R, ...)``.

        The alternating variant also needs the ``projection`` of the input points and
        their ``latents (B, T, C)``; plane grids are stacked plane-major as the
        projection expects.
        """
        if self.alternating and (projection is None or latents is None):
            raise ValueError("the alternating U-Net needs the point projection and point latents")
        if grids.shape[-1] % self.total_downsampling:
            raise ValueError(f"grid resolution {grids.shape[-1]} is not divisible by {self.total_downsampling}")
        x, skips = grids.contiguous(memory_format=self.style.memory_format), []
        previous = x
        for level in _levels(self.down):
            if level.resample:
                x = self._pool(x)
            x = level.block(x)
            if level.residual is not None:
                x = x + level.residual(self._pool(previous) if level.resample else previous)
            if self.alternating and projection is not None and latents is not None:
                previous = x
                x, latents = self._point_step(level, x, projection, latents)
            skips.append(x)
        for level, skip in zip(_levels(self.up), reversed(skips[:-1]), strict=True):
            x = self._join(level, x, skip)
            x = level.block(x)
            if level.residual is not None:
                x = x + level.residual(self._upsample_residual(previous, x))
                previous = x
            if self.alternating and projection is not None and latents is not None and level.point_mlp is not None:
                x, latents = self._point_step(level, x, projection, latents)
        return self.final(x)

    def _pool(self, x: Tensor) -> Tensor:
        pool = F.max_pool2d if self.style.dims == 2 else F.max_pool3d
        return pool(x, POOL)

    def _join(self, level: _Level, x: Tensor, skip: Tensor) -> Tensor:
        if level.up is not None:
            x = level.up(x)
        elif x.shape[2:] != skip.shape[2:]:
            x = F.interpolate(x, size=skip.shape[2:], mode="nearest")
        if self.merge == "add":
            return x + skip
        return torch.cat((skip, x) if self.style.skip_first else (x, skip), dim=1)

    def _upsample_residual(self, previous: Tensor, x: Tensor) -> Tensor:
        if not self.style.learned_upsampling and previous.shape[2:] != x.shape[2:]:
            return F.interpolate(previous, size=x.shape[2:], mode="nearest")
        return previous

    def _point_step(
        self, level: _Level, x: Tensor, projection: GridProjection, latents: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Sample the grids at the points, update the latents, scatter them back."""
        if level.point_mlp is None or level.point_skip is None:
            raise ValueError("this U-Net level has no point step")
        sampled = projection.sample_sum(x)
        latents = level.point_mlp(sampled) + level.point_skip(latents)
        grids = projection.scatter(latents, x.shape[-1])
        return grids.contiguous(memory_format=self.style.memory_format), latents

    def init_overrides(self, generator: torch.Generator) -> None:
        """Xavier-normal plain convolutions with zero bias in the 2D family (upstream ``reset_params``)."""
        if not self.style.xavier_init:
            return
        for module in self.modules():
            if type(module) is _CONV[self.style.dims] and isinstance(module, (nn.Conv2d, nn.Conv3d)):
                nn.init.xavier_normal_(module.weight, generator=generator)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def upstream_layout(self) -> UpstreamLayout:
        """Upstream names of our tensors (relative to the U-Net) and the unused upstream ones."""
        tensors = tuple(UpstreamTensor(name, (self._upstream_name(name),)) for name, _ in self.named_parameters())
        return UpstreamLayout(tensors, self._upstream_unused())

    def _upstream_paths(self) -> tuple[str, str, str]:
        return (
            ("down_convs", "up_convs", "conv_final") if self.style.dims == 2 else ("encoders", "decoders", "final_conv")
        )

    def _upstream_name(self, name: str) -> str:
        down_path, up_path, final = self._upstream_paths()
        parts = name.split(".")
        if parts[0] == "final":
            return f"{final}.{parts[1]}"
        path, index, part, rest = parts[0], int(parts[1]), parts[2], parts[3:]
        level = (self.down if path == "down" else self.up)[index]
        head = f"{down_path if path == 'down' else up_path}.{index}"
        if part == "block":
            layer, kind, param = int(rest[0]), rest[1], rest[2]
            if self.style.dims == 2:
                return f"{head}.conv{layer + 1}.{param}"
            kind = "groupnorm" if kind == "norm" else kind
            return f"{head}.basic_module.SingleConv{layer + 1}.{kind}.{param}"
        if part == "up":
            return f"{head}.{'upconv' if level.resample else 'upconv_noup'}.{rest[-1]}"
        upstream_part = {"residual": "conv1x1", "point_mlp": "fc_comm", "point_skip": "fc_c"}[part]
        return ".".join([head, upstream_part, *rest])

    def _upstream_unused(self) -> tuple[str, ...]:
        """Parameters that ALTO's U-Nets create but never use in their forward pass.

        The last up level has no point step, but upstream builds its ``fc_comm`` and
        ``fc_c``; the 2D U-Net builds a transposed ``upconv`` also where a level keeps
        the resolution (it uses ``upconv_noup`` there); the 3D U-Net builds a residual
        ``conv1x1`` also for the first level, which has no previous level.
        """
        if not self.alternating:
            return ()
        down_path, up_path, _ = self._upstream_paths()
        params = ("weight", "bias")
        mlp = [name for name, _ in point_mlp(1).named_parameters()]  # the same names at any width
        names: list[str] = []
        if self.style.dims == 3:
            names += [f"{down_path}.0.conv1x1.{p}" for p in params]
        for j, level in enumerate(_levels(self.up)):
            if self.style.learned_upsampling and not level.resample:
                names += [f"{up_path}.{j}.upconv.{p}" for p in params]
            if level.point_mlp is None:
                names += [f"{up_path}.{j}.fc_comm.{n}" for n in mlp]
                names += [f"{up_path}.{j}.fc_c.{p}" for p in params]
        return tuple(names)
