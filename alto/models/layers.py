"""Building blocks shared by the encoder, the U-Nets and the decoders.

Also holds the two pieces of bookkeeping every module takes part in: the
parameter initialisation (:func:`init_parameters`, the upstream scheme, drawn from
a seeded generator) and the description of where each of our tensors sits in an
upstream state dict (:class:`UpstreamTensor`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "GroupedLinear",
    "ResnetBlockFC",
    "UpstreamLayout",
    "UpstreamTensor",
    "grouped_linear",
    "identity_layout",
    "init_parameters",
    "point_mlp",
    "prefixed",
]

#: PyTorch's default ``kaiming_uniform_`` slope for Linear and conv weights (``a = sqrt(5)``),
#: which gives ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``
_DEFAULT_INIT_SLOPE = math.sqrt(5)


@dataclass(frozen=True)
class UpstreamTensor:
    """Where one of our tensors comes from in an upstream (ALTO / ConvONet) state dict.

    ``sources`` holds one upstream name, or several whose tensors are stacked along a
    new first axis (per-plane layers that we hold as one grouped layer). ``stack`` is
    also true for a single source that gains a leading group axis of size 1.
    """

    name: str
    sources: tuple[str, ...]
    stack: bool = False


@dataclass(frozen=True)
class UpstreamLayout:
    """All tensors of a module in upstream naming, plus upstream tensors it leaves out.

    ``unused`` lists upstream parameters that the published forward pass never reads;
    a clean model does not have them and a converter drops exactly these.
    """

    tensors: tuple[UpstreamTensor, ...]
    unused: tuple[str, ...] = ()


def prefixed(layout: UpstreamLayout, ours: str, theirs: str) -> UpstreamLayout:
    """Put ``ours`` before our names and ``theirs`` before upstream names (both end in ``.``)."""
    tensors = tuple(
        UpstreamTensor(ours + t.name, tuple(theirs + s for s in t.sources), t.stack) for t in layout.tensors
    )
    return UpstreamLayout(tensors, tuple(theirs + u for u in layout.unused))


def identity_layout(module: nn.Module) -> UpstreamLayout:
    """Layout of a module whose tensors carry the upstream names unchanged."""
    return UpstreamLayout(tuple(UpstreamTensor(n, (n,)) for n, _ in module.named_parameters()))


class ResnetBlockFC(nn.Module):
    """Fully connected residual block: ``shortcut(x) + fc_1(relu(fc_0(relu(x))))``.

    The shortcut is a bias-free linear map when the sizes differ, else the identity;
    the hidden size defaults to ``min(size_in, size_out)``. ``fc_1`` starts at zero
    (upstream initialisation), so a fresh block is its shortcut.
    """

    def __init__(self, size_in: int, size_out: int | None = None, size_hidden: int | None = None):
        super().__init__()
        size_out = size_in if size_out is None else size_out
        size_hidden = min(size_in, size_out) if size_hidden is None else size_hidden
        self.fc_0 = nn.Linear(size_in, size_hidden)
        self.fc_1 = nn.Linear(size_hidden, size_out)
        self.shortcut = None if size_in == size_out else nn.Linear(size_in, size_out, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        dx = self.fc_1(torch.relu(self.fc_0(torch.relu(x))))
        return (x if self.shortcut is None else self.shortcut(x)) + dx

    def init_overrides(self, generator: torch.Generator) -> None:
        """Upstream zeroes the second layer's weight."""
        nn.init.zeros_(self.fc_1.weight)


def grouped_linear(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """Per-group linear map: ``x (G, ..., in)``, ``weight (G, out, in)``, ``bias (G, out)`` -> ``(G, ..., out)``."""
    groups, out_features, in_features = weight.shape
    flat = x.reshape(groups, -1, in_features)
    out = torch.baddbmm(bias.unsqueeze(1), flat, weight.transpose(1, 2))
    return out.view(*x.shape[:-1], out_features)


class GroupedLinear(nn.Module):
    """``groups`` independent linear maps, applied together or one group at a time.

    Group ``g`` uses ``weight[g]`` ``(out, in)`` and ``bias[g]``. Replaces one
    ``nn.Linear`` per feature plane. Without ``group`` the input is ``(G, ..., in)``
    and all groups run in one batched matmul; with ``group=g`` the input is
    ``(..., in)`` and only group g runs, as a plain ``linear`` (on CPU this is
    faster than the batched matmul for the narrow layers of the decoders).
    """

    def __init__(self, groups: int, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(groups, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(groups, out_features))

    def forward(self, x: Tensor, group: int | None = None) -> Tensor:
        if group is None:
            return grouped_linear(x, self.weight, self.bias)
        return F.linear(x, self.weight[group], self.bias[group])

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Each group as ``nn.Linear``: ``U(-1/sqrt(in), 1/sqrt(in))`` for weight and bias."""
        bound = 1.0 / math.sqrt(self.weight.shape[-1])
        nn.init.uniform_(self.weight, -bound, bound, generator=generator)
        nn.init.uniform_(self.bias, -bound, bound, generator=generator)


def point_mlp(channels: int, expansion: int = 2) -> nn.Sequential:
    """Per-point MLP ``Linear(C, eC) -> ReLU -> Linear(eC, C)`` (ALTO's ``fc_comm``, e = 2)."""
    return nn.Sequential(
        nn.Linear(channels, expansion * channels),
        nn.ReLU(inplace=True),
        nn.Linear(expansion * channels, channels),
    )


_DEFAULT_INIT_TYPES = (
    nn.Linear,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
)


def _default_init(module: nn.Module, generator: torch.Generator) -> None:
    """PyTorch's own initialisation of a layer, drawn from ``generator``."""
    if isinstance(module, _DEFAULT_INIT_TYPES):
        nn.init.kaiming_uniform_(module.weight, a=_DEFAULT_INIT_SLOPE, generator=generator)
        if module.bias is not None:
            fan_in = nn.init._calculate_fan_in_and_fan_out(module.weight)[0]
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            nn.init.uniform_(module.bias, -bound, bound, generator=generator)
    elif isinstance(module, nn.GroupNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
    elif isinstance(module, GroupedLinear):
        module.reset_parameters(generator)


def init_parameters(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Initialise every parameter as the published code does, drawing from ``generator``.

    First PyTorch's default for each layer, then the overrides that modules declare
    in ``init_overrides(generator)`` (zeroed residual layers, Xavier-initialised 2D
    U-Net convolutions). Works on a model built on the ``meta`` device and moved
    with ``to_empty``, so that building a model never touches the global RNG.
    """
    with torch.no_grad():
        for module in model.modules():
            _default_init(module, generator)
        for module in model.modules():
            override = getattr(module, "init_overrides", None)
            if override is not None:
                override(generator)
    return model
