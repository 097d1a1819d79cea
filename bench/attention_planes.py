"""A/B: the attention decoder plane by plane (alto's) against all planes batched.

The batched variant runs every layer of the three planes' attention as one grouped
matmul on ``(P, B, T, K, ...)`` tensors, the layout before the per-plane loop was
adopted. Both give identical logits (checked first); the two are timed in
alternation in one process (a training step at batch 4 as in ``model_step.py``, and
decoding 100k points), and the medians are printed.

    python bench/attention_planes.py --config alto_shapenet_3plane --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from alto.models import build_model
from alto.models.decoder import AttentionDecoder
from alto.models.reference import load_reference, reference_names
from alto.ops import GridProjection

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "reference"
BATCH, QUERIES, INFERENCE_POINTS = 4, 2048, 100_000


def attend_planes_batched(
    self: AttentionDecoder, points: Tensor, grids: Tensor, rows: Tensor, cell_key_value: Tensor | None
) -> Tensor:
    """``AttentionDecoder._attend`` with the planes as the leading batch dimension."""
    projection = GridProjection(points, self.planes, self.padding)
    neighbourhood = (
        GridProjection(points, self.planes, self.neighbour_padding)
        if self.neighbour_padding != self.padding
        else projection
    )
    gathered = rows if cell_key_value is None else cell_key_value
    displacement, neighbours = neighbourhood.neighbours(grids, self.reverse_neighbour_axes, gathered)
    sampled = projection.sample(grids, self.sample_mode)
    if cell_key_value is None:
        neighbours = self._key_value(neighbours)
    key, value = neighbours.chunk(2, dim=-1)
    query = self.query(sampled).unsqueeze(-2)
    position = self.displacement(displacement)
    heads = (*position.shape[:-1], self.num_heads, -1)
    weights = torch.softmax(self.attention_mlp((query - key + position).view(heads)), dim=-3)
    attended = (weights * (value + position).view(heads)).sum(-3).flatten(-2)  # (P, B, T, width)
    return self.head(None, attended.permute(1, 2, 0, 3).flatten(-2))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="alto_shapenet_3plane", choices=reference_names(REFERENCE_DIR))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    case = load_reference(REFERENCE_DIR, args.config)
    gen = torch.Generator().manual_seed(0)
    model = build_model(case.config)
    if not isinstance(model.decoder, AttentionDecoder):
        parser.error(f"{args.config} has no attention decoder")
    inputs = torch.rand(BATCH, 3000 if "shapenet" in args.config else 10000, 3, generator=gen) - 0.5
    queries = torch.rand(BATCH, QUERIES, 3, generator=gen) * 1.1 - 0.55
    occupancy = (torch.rand(BATCH, QUERIES, generator=gen) > 0.5).float()
    dense = torch.rand(1, INFERENCE_POINTS, 3, generator=gen) - 0.5
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        logits = model(queries, inputs)
        F.binary_cross_entropy_with_logits(logits, occupancy, reduction="none").sum(-1).mean().backward()
        optimizer.step()

    def infer() -> None:
        with torch.no_grad():
            model.decode(dense, model.encode(inputs[:1]))

    variants: dict[str, Callable[..., Tensor]] = {
        "per-plane loop": AttentionDecoder._attend,
        "planes batched": attend_planes_batched,
    }
    outputs = {}
    for name, attend in variants.items():
        AttentionDecoder._attend = attend
        with torch.no_grad():
            outputs[name] = model(queries, inputs)
    for attend in variants.values():  # warm-up (changes the weights: after the comparison)
        AttentionDecoder._attend = attend
        step()
    difference = (outputs["per-plane loop"] - outputs["planes batched"]).abs().max().item()
    print(f"{args.config}: largest logit difference {difference:.2e}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    times: dict[str, dict[str, list[float]]] = {name: {"step": [], "inference": []} for name in variants}
    for _ in range(args.repeats):
        for name, attend in variants.items():
            AttentionDecoder._attend = attend
            for kind, fn in (("step", step), ("inference", infer)):
                start = time.perf_counter()
                fn()
                times[name][kind].append(time.perf_counter() - start)
    for name, measured in times.items():
        print(f"{name}: step {statistics.median(measured['step']):.3f} s, "
              f"inference {statistics.median(measured['inference']):.3f} s (medians of {args.repeats})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
