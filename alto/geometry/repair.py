"""Make a user mesh watertight and consistently oriented, or say why it cannot be.

Occupancy labels from a winding-number test are only trustworthy on a closed,
consistently oriented surface. :func:`repair_mesh` applies a fixed sequence of
conservative repairs and reports each one that changed something:

1. merge duplicated vertices (STL files and per-face OBJ exports duplicate them),
2. drop degenerate (zero-area) and duplicated faces, and unused vertices,
3. close small holes: every boundary loop of at most ``max_hole_edges`` edges
   is filled by a fan of triangles around its centroid,
4. orient all faces consistently and outwards.

A mesh that still has boundary edges, edges shared by more than two faces, or no
positive enclosed volume raises :class:`~alto.errors.InputError` with the reason.
"""

from __future__ import annotations

import numpy as np
import trimesh

from alto.errors import InputError

__all__ = ["DEFAULT_MAX_HOLE_EDGES", "boundary_loops", "repair_mesh"]

#: Largest hole (in boundary edges) closed by a centroid fan. A fan is a faithful
#: patch for small, nearly planar holes; larger openings are left for the user.
DEFAULT_MAX_HOLE_EDGES = 32


def _edge_counts(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directed edges (3F, 2) of ``faces``, the number of faces on each one's undirected
    edge (3F,), and the face count of every distinct undirected edge (E,)."""
    directed = faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
    undirected = np.sort(directed, axis=1)
    _, inverse, counts = np.unique(undirected, axis=0, return_inverse=True, return_counts=True)
    return directed, counts[inverse.reshape(-1)], counts


def boundary_loops(faces: np.ndarray) -> list[np.ndarray]:
    """Closed loops of boundary edges, each as vertex indices in face-winding order.

    A boundary edge belongs to exactly one face. Raises :class:`ValueError` when
    a boundary vertex starts several boundary edges (holes that touch), because
    the loops are then ambiguous.
    """
    directed, counts, _ = _edge_counts(np.asarray(faces, dtype=np.int64))
    edges = directed[counts == 1]
    successor: dict[int, int] = {}
    for a, b in edges.tolist():
        if a in successor:
            raise ValueError(f"vertex {a} starts two boundary edges (touching holes)")
        successor[a] = b
    loops = []
    while successor:
        start = min(successor)
        loop = [start]
        nxt = successor.pop(start)
        while nxt != start:
            if nxt not in successor:
                raise ValueError(f"the boundary through vertex {start} does not close")
            loop.append(nxt)
            nxt = successor.pop(nxt)
        loops.append(np.array(loop, dtype=np.int64))
    return loops


def _fill_holes(
    vertices: np.ndarray, faces: np.ndarray, loops: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Close each loop with a fan around its centroid; the fan faces run against the loop's edges."""
    new_vertices, new_faces = [vertices], [faces]
    next_index = len(vertices)
    for loop in loops:
        new_vertices.append(vertices[loop].mean(axis=0, keepdims=True))
        a, b = loop, np.roll(loop, -1)
        new_faces.append(np.stack([b, a, np.full(len(loop), next_index)], axis=1))
        next_index += 1
    return np.concatenate(new_vertices), np.concatenate(new_faces)


def _clean(mesh: trimesh.Trimesh, log: list[str]) -> trimesh.Trimesh:
    n_vertices = len(mesh.vertices)
    mesh.merge_vertices(merge_tex=True, merge_norm=True)
    if len(mesh.vertices) < n_vertices:
        log.append(f"merged {n_vertices - len(mesh.vertices)} duplicate vertices")
    keep = mesh.nondegenerate_faces()
    if not keep.all():
        log.append(f"removed {int((~keep).sum())} degenerate faces")
        mesh.update_faces(keep)
    unique = mesh.unique_faces()
    if not unique.all():
        log.append(f"removed {int((~unique).sum())} duplicate faces")
        mesh.update_faces(unique)
    mesh.remove_unreferenced_vertices()
    return mesh


def repair_mesh(
    mesh: trimesh.Trimesh, max_hole_edges: int = DEFAULT_MAX_HOLE_EDGES
) -> tuple[trimesh.Trimesh, list[str]]:
    """A watertight, outward-oriented copy of ``mesh`` and the list of repairs made.

    Raises :class:`~alto.errors.InputError` (message = the reason) when the mesh
    is empty, not finite, non-manifold, has a hole larger than
    ``max_hole_edges`` edges, or encloses no volume.
    """
    if len(mesh.faces) == 0 or len(mesh.vertices) == 0:
        raise InputError("the mesh has no faces")
    if not np.all(np.isfinite(mesh.vertices)):
        raise InputError("the mesh has non-finite vertex coordinates")
    log: list[str] = []
    mesh = _clean(trimesh.Trimesh(mesh.vertices.copy(), mesh.faces.copy(), process=False), log)
    if len(mesh.faces) == 0:
        raise InputError("the mesh has only degenerate faces")
    _, per_edge, per_unique = _edge_counts(mesh.faces)
    if (per_unique > 2).any():
        raise InputError(
            f"the mesh is not manifold: {int((per_unique > 2).sum())} edge(s) are shared by more than two faces"
        )
    if (per_edge == 1).any():
        try:
            loops = boundary_loops(mesh.faces)
        except ValueError as err:
            raise InputError(f"the mesh has holes that cannot be closed: {err}") from err
        sizes = sorted((len(loop) for loop in loops), reverse=True)
        if sizes[0] > max_hole_edges:
            raise InputError(
                f"the mesh is not watertight: {len(loops)} hole(s), the largest with {sizes[0]} boundary "
                f"edges (holes of up to {max_hole_edges} edges are filled)"
            )
        vertices, faces = _fill_holes(mesh.vertices, mesh.faces, loops)
        mesh = trimesh.Trimesh(vertices, faces, process=False)
        log.append(f"filled {len(loops)} hole(s) of {', '.join(map(str, sizes))} edges")
    if mesh.is_winding_consistent:
        # keep the relative orientation of the shells (an inner shell may bound a cavity)
        if mesh.volume < 0:
            mesh.invert()
            log.append("flipped the inside-out orientation")
    else:
        trimesh.repair.fix_normals(mesh, multibody=True)
        log.append("made the face winding consistent and outward")
    if not (mesh.is_watertight and mesh.is_winding_consistent):
        raise InputError("the mesh could not be made watertight with a consistent orientation")
    if not mesh.volume > 0:
        raise InputError("the mesh encloses no volume")
    return mesh, log
