"""Procedural furniture and objects built from analytic primitives.

Each category is a recipe: a frozen dataclass whose fields are the ranges (in
metres, y up, standing on y = 0) its shapes draw their dimensions from, and
whose ``build(rng)`` returns a :class:`~alto.geometry.solid.Solid`. Dimensions
are drawn per object, so the objects of a class vary in proportions and in
discrete variants (round or rectangular tables, floor or desk lamps, open
shelves or closed cabinets...).

Parts always overlap by a positive depth where they join (legs reach into the
table top, the backrest into the seat...), never merely touch: two solids that
only touch would leave an internal face on the union's surface.

Category folders carry the ShapeNet synset ids of the same classes, so the
room builder's class list is upstream's, and ``metadata.yaml`` gives ShapeNet's
names. The shapes themselves are of course not ShapeNet's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from alto.geometry.primitives import (
    Primitive,
    box,
    capsule,
    cylinder,
    frustum,
    rotation_matrix,
    sphere,
    torus,
)
from alto.geometry.solid import Solid

__all__ = [
    "DEMO_CATEGORIES",
    "ROOM_CATEGORIES",
    "AirplaneRecipe",
    "CabinetRecipe",
    "CategorySpec",
    "ChairRecipe",
    "LampRecipe",
    "MugRecipe",
    "Recipe",
    "SofaRecipe",
    "TableRecipe",
]

Range = tuple[float, float]


def _u(rng: np.random.Generator, bounds: Range) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def _flip(rng: np.random.Generator, probability: float) -> bool:
    return bool(rng.random() < probability)


def _leg(x: float, z: float, top: float, size: float, round_leg: bool) -> Primitive:
    """A vertical leg from the floor to height ``top`` at (x, z): a square post or a cylinder."""
    if round_leg:
        return cylinder([x, 0.0, z], [x, top, z], size / 2.0)
    return box([x, top / 2.0, z], [size, top, size])


def _corners(half_x: float, half_z: float) -> list[tuple[float, float]]:
    return [(sx * half_x, sz * half_z) for sx in (-1.0, 1.0) for sz in (-1.0, 1.0)]


class Recipe(Protocol):
    """Builds one random shape of a category."""

    def build(self, rng: np.random.Generator) -> Solid: ...


@dataclass(frozen=True)
class TableRecipe:
    """Rectangular tables on four legs (optionally with a lower shelf) or round pedestal tables."""

    height: Range = (0.62, 0.78)
    top_thickness: Range = (0.05, 0.09)
    width: Range = (0.9, 1.6)
    depth_ratio: Range = (0.5, 0.9)
    leg_size: Range = (0.06, 0.1)
    leg_inset: Range = (0.02, 0.1)
    round_leg_probability: float = 0.5
    shelf_probability: float = 0.3
    shelf_height: Range = (0.12, 0.25)
    round_probability: float = 0.3
    round_radius: Range = (0.35, 0.55)
    pedestal_radius: Range = (0.05, 0.1)
    base_radius_ratio: Range = (0.45, 0.7)
    base_thickness: Range = (0.03, 0.06)

    def build(self, rng: np.random.Generator) -> Solid:
        height, top = _u(rng, self.height), _u(rng, self.top_thickness)
        if _flip(rng, self.round_probability):
            radius, base = _u(rng, self.round_radius), _u(rng, self.base_thickness)
            return Solid((
                cylinder([0.0, height - top, 0.0], [0.0, height, 0.0], radius),
                cylinder([0.0, base / 2.0, 0.0], [0.0, height - top / 2.0, 0.0], _u(rng, self.pedestal_radius)),
                cylinder([0.0, 0.0, 0.0], [0.0, base, 0.0], radius * _u(rng, self.base_radius_ratio)),
            ))
        width = _u(rng, self.width)
        depth = width * _u(rng, self.depth_ratio)
        leg, inset = _u(rng, self.leg_size), _u(rng, self.leg_inset)
        round_leg = _flip(rng, self.round_leg_probability)
        leg_top = height - top / 2.0
        half_x, half_z = width / 2.0 - inset - leg / 2.0, depth / 2.0 - inset - leg / 2.0
        parts: list[Primitive] = [box([0.0, height - top / 2.0, 0.0], [width, top, depth])]
        parts += [_leg(x, z, leg_top, leg, round_leg) for x, z in _corners(half_x, half_z)]
        if _flip(rng, self.shelf_probability):
            parts.append(box([0.0, _u(rng, self.shelf_height), 0.0], [2.0 * half_x, top, 2.0 * half_z]))
        return Solid(tuple(parts))


@dataclass(frozen=True)
class ChairRecipe:
    """Four-legged chairs with a (tilted) backrest and optional armrests."""

    seat_height: Range = (0.42, 0.5)
    seat_width: Range = (0.42, 0.56)
    seat_depth: Range = (0.4, 0.52)
    seat_thickness: Range = (0.05, 0.09)
    leg_size: Range = (0.05, 0.08)
    leg_inset: Range = (0.005, 0.03)
    round_leg_probability: float = 0.4
    back_height: Range = (0.35, 0.55)
    back_thickness: Range = (0.04, 0.08)
    back_tilt_degrees: Range = (0.0, 12.0)
    arm_probability: float = 0.35
    arm_height: Range = (0.18, 0.26)
    arm_width: Range = (0.05, 0.08)

    def build(self, rng: np.random.Generator) -> Solid:
        seat_y, width, depth = _u(rng, self.seat_height), _u(rng, self.seat_width), _u(rng, self.seat_depth)
        seat = _u(rng, self.seat_thickness)
        leg, inset = _u(rng, self.leg_size), _u(rng, self.leg_inset)
        round_leg = _flip(rng, self.round_leg_probability)
        half_x, half_z = width / 2.0 - inset - leg / 2.0, depth / 2.0 - inset - leg / 2.0
        parts: list[Primitive] = [box([0.0, seat_y - seat / 2.0, 0.0], [width, seat, depth])]
        parts += [_leg(x, z, seat_y - seat / 2.0, leg, round_leg) for x, z in _corners(half_x, half_z)]
        back_h, back_t = _u(rng, self.back_height), _u(rng, self.back_thickness)
        tilt = math.radians(_u(rng, self.back_tilt_degrees))
        bottom = seat_y - seat / 2.0  # the backrest starts inside the seat
        rise, lean = back_h / 2.0 * math.cos(tilt), back_h / 2.0 * math.sin(tilt)
        centre = [0.0, bottom + rise, -depth / 2.0 + back_t / 2.0 - lean]
        parts.append(box(centre, [width, back_h, back_t], rotation_matrix("x", -tilt)))
        if _flip(rng, self.arm_probability):
            arm_y, arm_w = seat_y + _u(rng, self.arm_height), _u(rng, self.arm_width)
            front = depth / 2.0 - arm_w / 2.0
            for side in (-1.0, 1.0):
                x = side * (width / 2.0 - arm_w / 2.0)
                parts.append(box([x, (bottom + arm_y) / 2.0, front], [arm_w, arm_y - bottom, arm_w]))
                parts.append(box([x, arm_y, 0.0], [arm_w, arm_w, depth]))
        return Solid(tuple(parts))


@dataclass(frozen=True)
class LampRecipe:
    """Floor lamps (pole and conical shade) and desk lamps (jointed arm, shade and bulb)."""

    floor_probability: float = 0.5
    floor_height: Range = (1.3, 1.7)
    base_radius: Range = (0.1, 0.18)
    base_thickness: Range = (0.04, 0.07)
    pole_radius: Range = (0.04, 0.06)
    shade_bottom_radius: Range = (0.15, 0.25)
    shade_top_radius: Range = (0.07, 0.13)
    shade_height: Range = (0.18, 0.3)
    arm_length: Range = (0.22, 0.35)
    arm_radius: Range = (0.025, 0.04)
    lower_arm_tilt_degrees: Range = (5.0, 30.0)
    upper_arm_tilt_degrees: Range = (40.0, 80.0)
    head_tilt_degrees: Range = (120.0, 160.0)
    head_length: Range = (0.1, 0.16)
    head_mouth_radius: Range = (0.06, 0.1)
    head_neck_radius: Range = (0.025, 0.04)
    bulb_radius_ratio: float = 0.6
    bulb_position: float = 0.7

    def build(self, rng: np.random.Generator) -> Solid:
        base_r, base_t = _u(rng, self.base_radius), _u(rng, self.base_thickness)
        base = cylinder([0.0, 0.0, 0.0], [0.0, base_t, 0.0], base_r)
        if _flip(rng, self.floor_probability):
            height, shade_h = _u(rng, self.floor_height), _u(rng, self.shade_height)
            return Solid((
                base,
                cylinder([0.0, base_t / 2.0, 0.0], [0.0, height - shade_h / 2.0, 0.0], _u(rng, self.pole_radius)),
                frustum(
                    [0.0, height - shade_h, 0.0],
                    [0.0, height, 0.0],
                    _u(rng, self.shade_bottom_radius),
                    _u(rng, self.shade_top_radius),
                ),
            ))
        arm_r = _u(rng, self.arm_radius)
        start = np.array([0.0, base_t / 2.0, 0.0])

        def towards(tilt_range: Range) -> np.ndarray:
            angle = math.radians(_u(rng, tilt_range))  # from vertical, leaning towards +x
            return np.array([math.sin(angle), math.cos(angle), 0.0])

        elbow = start + _u(rng, self.arm_length) * towards(self.lower_arm_tilt_degrees)
        head = elbow + _u(rng, self.arm_length) * towards(self.upper_arm_tilt_degrees)
        mouth = head + _u(rng, self.head_length) * towards(self.head_tilt_degrees)
        mouth_r = _u(rng, self.head_mouth_radius)
        return Solid((
            base,
            capsule(start, elbow, arm_r),
            capsule(elbow, head, arm_r),
            frustum(head, mouth, _u(rng, self.head_neck_radius), mouth_r),
            sphere(head + self.bulb_position * (mouth - head), self.bulb_radius_ratio * mouth_r),
        ))


@dataclass(frozen=True)
class SofaRecipe:
    """Sofas: a seat block, a backrest (optionally with a rounded top), arms and optional feet."""

    width: Range = (1.4, 2.2)
    depth: Range = (0.75, 0.95)
    seat_height: Range = (0.38, 0.46)
    feet_probability: float = 0.5
    feet_height: Range = (0.05, 0.1)
    feet_radius: Range = (0.025, 0.04)
    back_height: Range = (0.3, 0.45)
    back_thickness: Range = (0.15, 0.25)
    rounded_back_probability: float = 0.4
    arm_probability: float = 0.85
    arm_width: Range = (0.12, 0.22)
    arm_height: Range = (0.15, 0.28)

    def build(self, rng: np.random.Generator) -> Solid:
        width, depth, seat_y = _u(rng, self.width), _u(rng, self.depth), _u(rng, self.seat_height)
        parts: list[Primitive] = []
        bottom = 0.0
        if _flip(rng, self.feet_probability):
            bottom, foot_r = _u(rng, self.feet_height), _u(rng, self.feet_radius)
            reach = bottom + (seat_y - bottom) / 2.0  # feet end inside the seat block
            corners = _corners(width / 2.0 - 2.0 * foot_r, depth / 2.0 - 2.0 * foot_r)
            parts += [cylinder([x, 0.0, z], [x, reach, z], foot_r) for x, z in corners]
        parts.insert(0, box([0.0, (bottom + seat_y) / 2.0, 0.0], [width, seat_y - bottom, depth]))
        joint = (bottom + seat_y) / 2.0  # backrest and arms start inside the seat block
        back_top, back_t = seat_y + _u(rng, self.back_height), _u(rng, self.back_thickness)
        back_z = -depth / 2.0 + back_t / 2.0
        parts.append(box([0.0, (joint + back_top) / 2.0, back_z], [width, back_top - joint, back_t]))
        if _flip(rng, self.rounded_back_probability):
            end = width / 2.0 - back_t / 2.0
            parts.append(capsule([-end, back_top, back_z], [end, back_top, back_z], back_t / 2.0))
        if _flip(rng, self.arm_probability):
            arm_w, arm_top = _u(rng, self.arm_width), seat_y + _u(rng, self.arm_height)
            for side in (-1.0, 1.0):
                x = side * (width / 2.0 - arm_w / 2.0)
                parts.append(box([x, (joint + arm_top) / 2.0, 0.0], [arm_w, arm_top - joint, depth]))
        return Solid(tuple(parts))


@dataclass(frozen=True)
class CabinetRecipe:
    """Closed cabinets (plinth, body, optional top slab, handles) and open bookshelves.

    The plinth and the top slab reach into the body by ``joint_overlap`` times their thickness.
    """

    width: Range = (0.5, 1.2)
    height: Range = (0.6, 1.6)
    depth: Range = (0.35, 0.6)
    plinth_height: Range = (0.04, 0.1)
    plinth_inset: Range = (0.02, 0.05)
    top_probability: float = 0.5
    top_overhang: Range = (0.01, 0.04)
    top_thickness: Range = (0.02, 0.04)
    handle_rows: tuple[int, int] = (1, 4)
    handle_radius: Range = (0.01, 0.018)
    handle_length: Range = (0.08, 0.2)
    shelf_probability: float = 0.3
    panel_thickness: Range = (0.03, 0.05)
    shelves: tuple[int, int] = (2, 4)
    joint_overlap: float = 0.5

    def build(self, rng: np.random.Generator) -> Solid:
        width, height, depth = _u(rng, self.width), _u(rng, self.height), _u(rng, self.depth)
        if _flip(rng, self.shelf_probability):
            return self._bookshelf(rng, width, height, depth)
        plinth, inset = _u(rng, self.plinth_height), _u(rng, self.plinth_inset)
        top = plinth + height
        parts: list[Primitive] = [
            box([0.0, top - height / 2.0, 0.0], [width, height, depth]),
            box(
                [0.0, plinth * (1.0 + self.joint_overlap) / 2.0, 0.0],
                [width - 2 * inset, plinth * (1.0 + self.joint_overlap), depth - 2 * inset],
            ),
        ]
        if _flip(rng, self.top_probability):
            over, slab = _u(rng, self.top_overhang), _u(rng, self.top_thickness)
            thick = slab * (1.0 + self.joint_overlap)
            parts.append(box([0.0, top + slab - thick / 2.0, 0.0], [width + 2 * over, thick, depth + 2 * over]))
        rows = int(rng.integers(self.handle_rows[0], self.handle_rows[1] + 1))
        radius, length = _u(rng, self.handle_radius), _u(rng, self.handle_length)
        half = min(length, width / 2.0) / 2.0
        z = depth / 2.0 + radius / 2.0  # half sunk into the front
        for row in range(rows):
            y = top - height * (row + 0.5) / rows
            parts.append(capsule([-half, y, z], [half, y, z], radius))
        return Solid(tuple(parts))

    def _bookshelf(self, rng: np.random.Generator, width: float, height: float, depth: float) -> Solid:
        panel = _u(rng, self.panel_thickness)
        inner = width - panel  # boards reach half-way into the side panels
        parts: list[Primitive] = [
            box([side * (width - panel) / 2.0, height / 2.0, 0.0], [panel, height, depth]) for side in (-1.0, 1.0)
        ]
        parts.append(box([0.0, height / 2.0, -depth / 2.0 + panel / 4.0], [inner, height, panel / 2.0]))
        count = int(rng.integers(self.shelves[0], self.shelves[1] + 1))
        levels = np.linspace(panel / 2.0, height - panel / 2.0, count + 2)
        parts += [box([0.0, y, 0.0], [inner, panel, depth]) for y in levels]
        return Solid(tuple(parts))


@dataclass(frozen=True)
class AirplaneRecipe:
    """Airplanes: capsule fuselage, (swept) wings, tailplane, fin and optional engines.

    The wings sit ``wing_drop_ratio`` fuselage radii below the axis; the tail surfaces
    have ``tail_chord_ratio`` / ``tail_thickness_ratio`` of the wing's chord / thickness;
    engines hang at ``engine_span_position`` of the span, reaching
    ``engine_overlap_ratio`` of their radius into the wing.
    """

    fuselage_length: Range = (1.0, 1.4)
    fuselage_radius: Range = (0.07, 0.11)
    wing_span: Range = (0.9, 1.4)
    wing_chord: Range = (0.15, 0.3)
    wing_thickness: Range = (0.04, 0.07)
    wing_sweep_degrees: Range = (0.0, 30.0)
    wing_position: Range = (0.4, 0.55)
    tail_span_ratio: Range = (0.3, 0.45)
    fin_height: Range = (0.12, 0.22)
    fin_sweep_degrees: Range = (10.0, 35.0)
    engine_probability: float = 0.6
    engine_radius: Range = (0.03, 0.05)
    engine_length: Range = (0.12, 0.2)
    wing_drop_ratio: float = 0.3
    tail_chord_ratio: float = 0.6
    tail_thickness_ratio: float = 0.8
    engine_span_position: float = 0.2
    engine_overlap_ratio: float = 0.2

    @staticmethod
    def _wings(root: np.ndarray, span: float, chord: float, thick: float, sweep: float) -> list[Primitive]:
        """Two wing boxes from ``root`` (inside the fuselage) to the tips, swept back by ``sweep``."""
        parts: list[Primitive] = []
        for side in (-1.0, 1.0):
            rot = rotation_matrix("y", -side * sweep)
            centre = root + rot @ np.array([0.0, 0.0, side * span / 4.0])
            parts.append(box(centre, [chord, thick, span / 2.0], rot))
        return parts

    def build(self, rng: np.random.Generator) -> Solid:
        length, radius = _u(rng, self.fuselage_length), _u(rng, self.fuselage_radius)
        nose, tail = length / 2.0 - radius, -length / 2.0 + radius
        parts: list[Primitive] = [capsule([tail, 0.0, 0.0], [nose, 0.0, 0.0], radius)]
        span, chord, thick = _u(rng, self.wing_span), _u(rng, self.wing_chord), _u(rng, self.wing_thickness)
        sweep = math.radians(_u(rng, self.wing_sweep_degrees))
        wing_x = nose - _u(rng, self.wing_position) * (nose - tail)
        wing_y = -self.wing_drop_ratio * radius
        parts += self._wings(np.array([wing_x, wing_y, 0.0]), span, chord, thick, sweep)
        tail_span = span * _u(rng, self.tail_span_ratio)
        tail_chord = chord * self.tail_chord_ratio
        tail_thick = thick * self.tail_thickness_ratio
        tail_x = tail + tail_chord / 2.0
        parts += self._wings(np.array([tail_x, 0.0, 0.0]), tail_span, tail_chord, tail_thick, sweep)
        fin_h = _u(rng, self.fin_height)
        fin_tilt = math.radians(_u(rng, self.fin_sweep_degrees))
        fin_rot = rotation_matrix("z", fin_tilt)
        fin_centre = np.array([tail_x, 0.0, 0.0]) + fin_rot @ np.array([0.0, (radius + fin_h) / 2.0, 0.0])
        parts.append(box(fin_centre, [tail_chord, radius + fin_h, tail_thick], fin_rot))
        if _flip(rng, self.engine_probability):
            eng_r, eng_len = _u(rng, self.engine_radius), _u(rng, self.engine_length)
            for side in (-1.0, 1.0):
                z = side * span * self.engine_span_position
                x = wing_x - abs(z) * math.tan(sweep)
                y = wing_y - thick / 2.0 - (1.0 - self.engine_overlap_ratio) * eng_r
                parts.append(cylinder([x - eng_len / 2.0, y, z], [x + eng_len / 2.0, y, z], eng_r))
        return Solid(tuple(parts))


@dataclass(frozen=True)
class MugRecipe:
    """Mugs: a solid cylindrical body, a torus handle and an optional rounded rim."""

    radius: Range = (0.035, 0.05)
    height: Range = (0.08, 0.12)
    handle_major: Range = (0.022, 0.035)
    handle_minor: Range = (0.007, 0.011)
    rim_probability: float = 0.5
    rim_minor: Range = (0.003, 0.006)

    def build(self, rng: np.random.Generator) -> Solid:
        radius, height = _u(rng, self.radius), _u(rng, self.height)
        parts: list[Primitive] = [
            cylinder([0.0, 0.0, 0.0], [0.0, height, 0.0], radius),
            torus([radius, height / 2.0, 0.0], [0.0, 0.0, 1.0], _u(rng, self.handle_major), _u(rng, self.handle_minor)),
        ]
        if _flip(rng, self.rim_probability):
            minor = _u(rng, self.rim_minor)
            parts.append(torus([0.0, height - minor, 0.0], [0.0, 1.0, 0.0], radius, minor))
        return Solid(tuple(parts))


@dataclass(frozen=True)
class CategorySpec:
    """A demo category: folder ``id`` (ShapeNet synset), metadata ``name``, model-name ``prefix``."""

    id: str
    name: str
    prefix: str
    recipe: Recipe


#: The demo's categories, by folder id.
DEMO_CATEGORIES: dict[str, CategorySpec] = {
    spec.id: spec
    for spec in (
        CategorySpec("02691156", "airplane,aeroplane,plane", "airplane", AirplaneRecipe()),
        CategorySpec("02933112", "cabinet", "cabinet", CabinetRecipe()),
        CategorySpec("03001627", "chair", "chair", ChairRecipe()),
        CategorySpec("03636649", "lamp", "lamp", LampRecipe()),
        CategorySpec("03797390", "mug", "mug", MugRecipe()),
        CategorySpec("04256520", "sofa,couch,lounge", "sofa", SofaRecipe()),
        CategorySpec("04379243", "table", "table", TableRecipe()),
    )
}

#: The five ShapeNet classes the synthetic room builder furnishes rooms with (sorted,
#: as upstream; a room point's semantic label is the index in this list).
ROOM_CATEGORIES: tuple[str, ...] = ("02933112", "03001627", "03636649", "04256520", "04379243")
