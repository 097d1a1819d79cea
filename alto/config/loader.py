"""Experiment configs: YAML files with ``inherit_from``, merged and validated.

The format is ConvONet's and ALTO's: a file may name a parent with
``inherit_from``; the parent is loaded first (recursively) and the child is merged
over it, dicts key by key, everything else (scalars, lists) replaced. A file
without a parent is merged over the packaged defaults (``default.yaml``). The
merged dict is validated against one JSON schema (``schema/experiment.yaml``).

Two things differ from upstream, both to help users:

* ``inherit_from`` is resolved against the including file's folder and then its
  ancestors before the working directory, so the published configs (which name
  parents relative to their repository root) load from any working directory.
  A parent written ``alto:<path>`` is a file inside the installed package, e.g.
  ``alto:models/configs/alto_shapenet_3plane.yaml``, the config of a published model
  (:mod:`alto.models.catalog`), so an experiment adds its training to it instead of
  copying the architecture.
* Every leaf remembers the file that set it, so a validation error names the
  file, the key path and what was expected (and the closest valid key for a typo).
"""

from __future__ import annotations

import copy
import difflib
import functools
import os
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from alto.errors import ConfigError

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "INHERIT_KEY",
    "PACKAGE_PARENT_PREFIX",
    "experiment_schema",
    "load_config",
    "merge_configs",
    "no_effect_keys",
    "parse_dotted_overrides",
    "read_yaml",
    "validate_config",
]

INHERIT_KEY = "inherit_from"
#: how the schema marks upstream keys that are accepted and have no effect: "(upstream, unused)"
NO_EFFECT_MARK = "unused)"
#: ``inherit_from`` prefix of a parent that ships inside the ``alto`` package
PACKAGE_PARENT_PREFIX = "alto:"
DEFAULT_CONFIG_PATH = Path(str(resources.files("alto.config") / "default.yaml"))
SCHEMA_PATH = Path(str(resources.files("alto.config") / "schema" / "experiment.yaml"))

KeyPath = tuple[str, ...]
Provenance = dict[KeyPath, str]


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse one YAML file into a dict; errors name the file (and the line for syntax errors)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read config file ({err.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"{path}{where}: invalid YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level, got {type(data).__name__}")
    return data


def _resolve_parent(child: Path, parent: str) -> Path:
    """Find the file named by ``inherit_from`` in ``child``.

    ``alto:<path>`` names a file inside the installed package. Otherwise tried in
    order: an absolute path; the child's folder and each of its ancestors (upstream
    names parents relative to its repository root); the working directory.
    """
    if parent.startswith(PACKAGE_PARENT_PREFIX):
        packaged = Path(str(resources.files("alto").joinpath(parent.removeprefix(PACKAGE_PARENT_PREFIX))))
        if not packaged.is_file():
            raise ConfigError(f"{child}: key '{INHERIT_KEY}': no config '{parent}' in the alto package ({packaged})")
        return packaged.resolve()
    candidate = Path(parent).expanduser()
    if candidate.is_absolute():
        tried = [candidate]
    else:
        tried = [folder / candidate for folder in (child.parent, *child.parent.parents)]
        tried.append(Path.cwd() / candidate)
    for path in tried:
        if path.is_file():
            return path.resolve()
    listed = "\n  ".join(str(p) for p in dict.fromkeys(tried))
    raise ConfigError(f"{child}: key '{INHERIT_KEY}': parent config '{parent}' not found; tried:\n  {listed}")


def _record(tree: Mapping[str, Any], source: str, prefix: KeyPath, provenance: Provenance) -> None:
    """Note ``source`` as the origin of every key path in ``tree``."""
    for key, value in tree.items():
        path = (*prefix, str(key))
        provenance[path] = source
        if isinstance(value, Mapping):
            _record(value, source, path, provenance)


def merge_configs(
    base: Mapping[str, Any],
    override: Mapping[str, Any],
    *,
    source: str | None = None,
    provenance: Provenance | None = None,
    _prefix: KeyPath = (),
) -> dict[str, Any]:
    """Return ``base`` updated by ``override``: dicts merge recursively, anything else replaces.

    Neither argument is modified. With ``provenance``, every key path set by
    ``override`` is recorded as coming from ``source``.
    """
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        path = (*_prefix, str(key))
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            if provenance is not None:
                provenance[path] = source or "<override>"
            merged[key] = merge_configs(
                merged[key], value, source=source, provenance=provenance, _prefix=path
            )
        else:
            merged[key] = copy.deepcopy(value)
            if provenance is not None:
                _record({key: value}, source or "<override>", _prefix, provenance)
    return merged


def _load_chain(path: Path, default_path: Path | None, provenance: Provenance, seen: list[Path]) -> dict[str, Any]:
    path = path.resolve()
    if path in seen:
        chain = " -> ".join(str(p) for p in [*seen, path])
        raise ConfigError(f"{path}: '{INHERIT_KEY}' forms a cycle: {chain}")
    data = read_yaml(path)
    parent = data.pop(INHERIT_KEY, None)
    if parent is not None:
        if not isinstance(parent, str):
            raise ConfigError(f"{path}: key '{INHERIT_KEY}': expected a file path, got {parent!r}")
        base = _load_chain(_resolve_parent(path, parent), default_path, provenance, [*seen, path])
    elif default_path is not None and path != default_path.resolve():
        base = read_yaml(default_path)
        _record(base, str(default_path), (), provenance)
    else:
        base = {}
    return merge_configs(base, data, source=str(path), provenance=provenance)


@functools.cache
def experiment_schema() -> dict[str, Any]:
    """The JSON schema of experiment configs (parsed once)."""
    return yaml.safe_load(SCHEMA_PATH.read_text())


@functools.cache
def no_effect_keys(*section: str) -> frozenset[str]:
    """The keys of config ``section`` (e.g. ``"model", "decoder_kwargs"``) that the schema
    marks "(upstream ..., unused)": published configs carry them and alto ignores them,
    so the schema is the one list of them."""
    node = experiment_schema()
    for key in section:
        node = node["properties"][key]
    return frozenset(
        name for name, spec in node["properties"].items() if NO_EFFECT_MARK in str(spec.get("description", ""))
    )


def _origin(path: KeyPath, provenance: Provenance | None, fallback: str) -> str:
    """The file that set ``path`` or its nearest ancestor."""
    if provenance:
        for end in range(len(path), 0, -1):
            if path[:end] in provenance:
                return provenance[path[:end]]
    return fallback


def _describe_type(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _allowed_keys(schema: Mapping[str, Any]) -> list[str]:
    return sorted(schema.get("properties", {}))


def _format_error(err: jsonschema.ValidationError, provenance: Provenance | None, fallback: str) -> list[str]:
    """Turn one schema error into lines ``file: key 'a.b.c': problem``."""
    path: KeyPath = tuple(str(p) for p in err.absolute_path)
    if err.validator == "additionalProperties":
        allowed = _allowed_keys(err.schema)
        lines = []
        for key in sorted(set(err.instance) - set(allowed)):
            key_path = (*path, str(key))
            hint = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            advice = f"did you mean '{hint[0]}'?" if hint else f"valid keys: {', '.join(allowed)}"
            where = ".".join(path) or "the top level"
            lines.append(
                f"{_origin(key_path, provenance, fallback)}: key '{'.'.join(key_path)}' is not a valid key "
                f"in {where}; {advice}"
            )
        return lines
    if err.validator == "oneOf" and err.context:
        # Report the most specific reason among the alternatives: the deepest one (e.g. the bad
        # list item rather than "not a string"), preferring anything over a mismatch of the
        # value's kind (a type or an enum of another alternative), then the first alternative.
        specific = max(err.context, key=lambda e: (len(e.absolute_path), e.validator not in ("type", "enum")))
        return _format_error(specific, provenance, fallback)
    location = _origin(path, provenance, fallback)
    dotted = ".".join(path) or "<top level>"
    if err.validator == "type":
        expected = err.validator_value if isinstance(err.validator_value, str) else " or ".join(err.validator_value)
        problem = f"expected {expected}, got {_describe_type(err.instance)} {err.instance!r}"
    elif err.validator == "enum":
        problem = f"expected one of {err.validator_value}, got {err.instance!r}"
    elif err.validator == "required":
        problem = err.message
    else:
        problem = f"{err.message}"
    description = err.schema.get("description") if isinstance(err.schema, Mapping) else None
    tail = f" [{description}]" if description and err.validator != "required" else ""
    return [f"{location}: key '{dotted}': {problem}{tail}"]


def validate_config(
    cfg: Mapping[str, Any], *, source: str = "<config>", provenance: Provenance | None = None
) -> None:
    """Raise :class:`ConfigError` listing every schema violation of ``cfg``.

    Each line names the file that set the offending key (from ``provenance``, else
    ``source``), the dotted key path and what was expected.
    """
    validator = jsonschema.Draft202012Validator(experiment_schema())
    errors = sorted(validator.iter_errors(cfg), key=lambda e: [str(p) for p in e.absolute_path])
    if not errors:
        return
    lines: list[str] = []
    for err in errors:
        lines.extend(_format_error(err, provenance, source))
    lines = list(dict.fromkeys(lines))
    header = "invalid config" if len(lines) == 1 else f"invalid config ({len(lines)} problems)"
    raise ConfigError(f"{header}:\n  " + "\n  ".join(lines))


def load_config(
    path: str | os.PathLike[str],
    *,
    default_path: str | os.PathLike[str] | None = DEFAULT_CONFIG_PATH,
    overrides: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Load an experiment config: follow ``inherit_from``, merge, apply ``overrides``, validate.

    ``default_path=None`` skips the packaged defaults (the result must still be a
    complete config). ``overrides`` are merged last, in order (e.g. settings from
    the command line or the workflow).
    """
    path = Path(path)
    provenance: Provenance = {}
    cfg = _load_chain(path, Path(default_path) if default_path is not None else None, provenance, [])
    for override in overrides:
        cfg = merge_configs(cfg, override, source="<override>", provenance=provenance)
    validate_config(cfg, source=str(path), provenance=provenance)
    return cfg


def parse_dotted_overrides(assignments: Iterable[str]) -> dict[str, Any]:
    """Turn ``["data.path=/x", "training.batch_size=4"]`` into a nested override dict.

    Values are parsed as YAML (``4`` is an int, ``[xz, xy]`` a list, ``null`` None).
    """
    nested: dict[str, Any] = {}
    for item in assignments:
        key, sep, raw = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise ConfigError(f"override '{item}': expected KEY.PATH=VALUE, e.g. training.batch_size=4")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as err:
            raise ConfigError(f"override '{item}': value is not valid YAML ({err})") from None
        node = nested
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override '{item}': '{part}' was already set to a value, not a section")
            node = child
        node[parts[-1]] = value
    return nested
