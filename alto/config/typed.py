"""The experiment config as frozen dataclasses, one per section, with the facts derived from it.

A YAML config is loaded and validated as a dict (:mod:`alto.config.loader`); this
module turns that dict into an :class:`ExperimentConfig`. No default is written here:
every field is read from the dict, which carries the packaged ``default.yaml`` merged
under it, so ``default.yaml`` stays the one home of every default. Keys that are
optional and absent from ``default.yaml`` (``model.alternating``, ``generation.window``)
are ``None`` when a config leaves them out.

Keys that the schema marks "(upstream, unused)" have no field; they stay in
:attr:`ExperimentConfig.raw`, the merged dict, which is what checkpoints record
(:meth:`ExperimentConfig.to_dict`), so upstream keys round-trip unchanged.

The decisions that several modules need are properties here, each in one place:
:attr:`ModelConfig.family` (ALTO or ConvONet), :attr:`ModelConfig.planes` and
:attr:`ModelConfig.is_volume` (feature planes or the 3D volume),
:attr:`ExperimentConfig.extractor` (what ``generation.extractor: auto`` means) and
:attr:`ExperimentConfig.is_scene` (a rooms model).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from alto.config.loader import DEFAULT_CONFIG_PATH, load_config, merge_configs, read_yaml, validate_config
from alto.errors import AltoError, ConfigError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "ALTO",
    "ATTENTION_DECODER",
    "AUTO",
    "CONVONET",
    "DataConfig",
    "ExperimentConfig",
    "GenerationConfig",
    "ModelConfig",
    "TestConfig",
    "TrainingConfig",
    "as_experiment",
    "config_dict",
    "load_experiment",
    "packaged_defaults",
]

#: model families: which paper's architecture (and generation protocol) a config selects
ALTO = "alto"
CONVONET = "convonet"
#: ALTO's decoder, by which its configs are recognised
ATTENTION_DECODER = "simple_local_attention_sub"
#: ``generation.extractor`` value that picks the protocol of the model's family
AUTO = "auto"
#: upstream's ``encoder_kwargs.plane_type`` when a config gives none (one ground plane)
UPSTREAM_PLANE_TYPE = "xz"
#: the ``data.input_type`` of partial scans
PARTIAL_POINTCLOUD = "partial_pointcloud"
#: ``model_selection_mode`` each ``model_selection_metric`` must have
SELECTION_MODES = {"iou": "maximize", "loss": "minimize"}

Section = TypeVar("Section", bound="DataclassInstance")


def _frozen(value: Any) -> Any:
    """A read-only deep copy: mappings become mapping proxies, lists tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: _frozen(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_frozen(item) for item in value)
    return value


def _thawed(value: Any) -> Any:
    """The plain (YAML-dumpable, picklable) copy of a :func:`_frozen` value."""
    if isinstance(value, Mapping):
        return {key: _thawed(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [_thawed(item) for item in value]
    return copy.deepcopy(value)


def _section(cls: type[Section], values: Mapping[str, Any], name: str) -> Section:
    """Build the dataclass ``cls`` from the keys of ``values`` that are its fields."""
    known = {field.name for field in dataclasses.fields(cls)}
    try:
        return cls(**{key: _frozen(value) for key, value in values.items() if key in known})
    except TypeError as err:  # a required key is missing: only for a dict that skipped default.yaml
        raise ConfigError(f"config section '{name}': {err}") from None


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """The ``data`` section: where the dataset is and how inputs and queries are sampled."""

    dataset: str
    """Dataset class (``Shapes3D``)."""
    path: str
    """Dataset root folder (category folders below it)."""
    classes: tuple[str, ...] | None
    """Categories to use; ``None`` takes every category folder."""
    input_type: str
    """What the encoder sees: ``pointcloud`` or ``partial_pointcloud``."""
    train_split: str | None
    """Name of the training split list (``<name>.lst``)."""
    val_split: str | None
    """Name of the validation split list."""
    test_split: str | None
    """Name of the test split list."""
    dim: int
    """Point dimension (3)."""
    points_file: str | None
    """Occupancy samples used for training (a file, or a folder with ``multi_files``)."""
    points_iou_file: str | None
    """Occupancy samples used for IoU."""
    multi_files: int | None
    """Number of alternative files per field (rooms: 10), ``None`` for one."""
    points_subsample: int | tuple[int, ...]
    """Query points per training sample, or ``(n_outside, n_inside)``."""
    points_unpackbits: bool
    """Occupancies are stored with ``np.packbits``."""
    pointcloud_file: str | None
    """Surface samples the inputs are drawn from."""
    pointcloud_chamfer_file: str | None
    """Surface samples used as Chamfer ground truth."""
    pointcloud_n: int
    """Input points per sample."""
    pointcloud_noise: float
    """Standard deviation of the Gaussian noise on input points."""
    padding: float
    """The unit cube is padded by this much in total (0.1: [-0.55, 0.55]^3)."""
    watertight_file: str
    """Ground-truth mesh file name inside an object folder (figures only)."""

    def split(self, mode: str) -> str | None:
        """The split list name of ``mode`` (``train``, ``val`` or ``test``)."""
        splits = {"train": self.train_split, "val": self.val_split, "test": self.test_split}
        if mode not in splits:
            raise ConfigError(f"dataset mode: got {mode!r}; expected one of {', '.join(splits)}")
        return splits[mode]

    @property
    def partial(self) -> bool:
        """Inputs are partial scans rather than whole surfaces."""
        return self.input_type == PARTIAL_POINTCLOUD


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The ``model`` section: encoder, decoder and their keyword arguments (upstream names)."""

    encoder: str
    """Encoder name (``pointnet_local_pool``)."""
    decoder: str
    """Decoder name: ``simple_local`` (ConvONet) or ``simple_local_attention_sub`` (ALTO)."""
    c_dim: int
    """Feature channels of the planes / volume."""
    encoder_kwargs: Mapping[str, Any]
    """Upstream keyword arguments of the encoder (read-only; defaults in :mod:`alto.models.build`)."""
    decoder_kwargs: Mapping[str, Any]
    """Upstream keyword arguments of the decoder (read-only; defaults in :mod:`alto.models.build`)."""
    alternating: bool | None = None
    """ALTO's alternating U-Net (true) or ConvONet's plain one (false); ``None``: decided by :attr:`family`."""

    @property
    def family(self) -> str:
        """:data:`ALTO` or :data:`CONVONET`: the one rule for which paper's model a config selects.

        ``alternating`` decides when given; otherwise ALTO's configs are recognised by the
        attention decoder or by ``encoder_kwargs.unet3d_kwargs.is_unet`` (a keyword only
        ALTO's 3D U-Net has). ALTO's models run the alternating U-Net and are extracted
        with region growing; ConvONet's run the plain U-Net and use MISE.
        """
        if self.alternating is not None:
            return ALTO if self.alternating else CONVONET
        unet3d_kwargs = self.encoder_kwargs.get("unet3d_kwargs")
        has_is_unet = isinstance(unet3d_kwargs, Mapping) and "is_unet" in unet3d_kwargs
        return ALTO if self.decoder == ATTENTION_DECODER or has_is_unet else CONVONET

    @property
    def planes(self) -> tuple[str, ...]:
        """The encoder's feature planes in canonical order, or ``('grid',)`` for the volume."""
        from alto.ops import canonical_planes  # alto.ops reads alto.config's defaults

        plane_type = self.encoder_kwargs.get("plane_type", UPSTREAM_PLANE_TYPE)
        try:
            return canonical_planes(plane_type)
        except AltoError as err:
            raise ConfigError(f"config key 'model.encoder_kwargs.plane_type': {err}") from None

    @property
    def is_volume(self) -> bool:
        """Features live in a 3D volume (``plane_type: grid``) rather than on planes."""
        from alto.ops import GRID

        return self.planes == (GRID,)


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """The ``training`` section: the run folder, optimisation, schedule and checkpoints.

    ``batch_size`` is the global batch: with ``N`` processes each one takes
    ``batch_size / N`` samples, so the optimisation is the same as one process with
    the whole batch (upstream ALTO's two-GPU ``DataParallel`` split one batch the same way).
    """

    out_dir: Path
    """Run folder (checkpoints, logs, metrics)."""
    batch_size: int
    """Samples per optimisation step (over all processes)."""
    print_every: int
    """Iterations between log lines."""
    checkpoint_every: int
    """Iterations between saves of ``model.pt``."""
    validate_every: int
    """Iterations between validations."""
    backup_every: int
    """Iterations between numbered backups ``model_<it>.pt``."""
    model_selection_metric: str
    """Validation metric that selects ``model_best.pt``: ``iou`` or ``loss``."""
    model_selection_mode: str
    """``maximize`` (for ``iou``) or ``minimize`` (for ``loss``)."""
    n_workers: int
    """Data loader workers for training."""
    n_workers_val: int
    """Data loader workers for validation."""
    max_iters: int | None
    """Stop after this many iterations; ``None`` trains until stopped, as upstream."""
    max_epochs: int | None
    """Stop after this many epochs; ``None`` for no limit."""
    lr: float
    """Adam learning rate."""
    lr_schedule: str
    """``constant`` (ConvONet) or ``cosine`` annealing stepped once per epoch (ALTO)."""
    lr_cosine_epochs: int
    """Period of the cosine schedule in epochs."""
    lr_min: float
    """Learning rate at the end of the cosine period."""
    device: str
    """``auto`` (CUDA when available), ``cpu`` or ``cuda``."""
    precision: str
    """Autocast precision of forward passes: ``fp32``, ``bf16`` or ``fp16`` (CUDA only)."""
    channels_last: bool
    """Channels-last memory format for the U-Nets."""
    deterministic: bool
    """Ask torch for deterministic kernels (slower on CUDA)."""
    val_max_objects: int | None
    """Validate on the first N validation objects only; ``None`` for all."""
    exit_after: float | None
    """Save ``model.pt`` and stop after this many seconds (exit code 3); ``None`` for never."""
    tensorboard: bool
    """Also write TensorBoard logs."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "out_dir", Path(self.out_dir))

    @property
    def selection_sign(self) -> float:
        """+1 when larger values of the selection metric are better, -1 otherwise.

        Raises :class:`ConfigError` when the mode does not suit the metric.
        """
        expected = SELECTION_MODES[self.model_selection_metric]
        if self.model_selection_mode != expected:
            raise ConfigError(
                f"training.model_selection_mode: '{self.model_selection_metric}' must be "
                f"'{expected}'d, got '{self.model_selection_mode}'"
            )
        return 1.0 if expected == "maximize" else -1.0


@dataclasses.dataclass(frozen=True)
class TestConfig:
    """The ``test`` section: the surface threshold, the checkpoint used and evaluation options."""

    __test__ = False  # not a pytest test class

    threshold: float
    """Occupancy probability of the surface (validation IoU and MISE)."""
    eval_mesh: bool
    """Evaluate the generated meshes."""
    remove_wall: bool
    """Rooms: drop predicted points outside the ground truth's walls before Chamfer."""
    model_file: str
    """Checkpoint used for generation (file name in ``out_dir``, a path or a URL)."""


@dataclasses.dataclass(frozen=True)
class GenerationConfig:
    """The ``generation`` section: how meshes are extracted and written."""

    batch_size: int
    """Query points per decoder call."""
    generate_mesh: bool
    """Generate meshes (upstream also has point clouds)."""
    generation_dir: str
    """Output folder inside ``training.out_dir``."""
    resolution_0: int
    """MISE: resolution of the coarsest grid."""
    upsampling_steps: int
    """MISE: number of times the grid is refined by 2."""
    copy_input: bool
    """Write the input points beside the meshes."""
    sliding_window: bool
    """Extract large scenes crop by crop (settings in :attr:`window`)."""
    extractor: str | Mapping[str, Any]
    """``auto``, a preset (``convonet``, ``alto``) or ``{method: ..., settings}``; see
    :attr:`ExperimentConfig.extractor` for ``auto``."""
    mesh_format: str
    """File format of generated meshes: ``ply`` (ALTO) or ``off`` (ConvONet)."""
    window: Mapping[str, Any] | None = None
    """Sliding-window settings (:class:`alto.mesh.sliding.SlidingWindow`); ``None``: its defaults."""


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """One experiment: the sections of a merged, validated config and the facts derived from them.

    Build it with :meth:`from_dict` (or :func:`alto.config.load_experiment`); the dict
    it came from is :attr:`raw`, and :meth:`to_dict` gives a plain copy for checkpoints.
    """

    method: str
    """Model family of the upstream code (``conv_onet``)."""
    seed: int
    """Root seed of every random draw of a run (data sampling, noise, initialisation)."""
    data: DataConfig
    """The ``data`` section."""
    model: ModelConfig
    """The ``model`` section."""
    training: TrainingConfig
    """The ``training`` section."""
    test: TestConfig
    """The ``test`` section."""
    generation: GenerationConfig
    """The ``generation`` section."""
    raw: Mapping[str, Any] = dataclasses.field(repr=False)
    """The merged config as read (read-only), upstream keys with no effect included."""

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any], *, source: str = "<config>") -> Self:
        """Merge ``cfg`` over the packaged defaults, validate it against the schema and build it.

        A config from :func:`alto.config.load_config` already carries the defaults, so
        merging changes nothing; a partial one (a test's, an upstream checkpoint's)
        gets ``default.yaml``'s values. Errors name ``source`` and the key.
        """
        merged = merge_configs(_packaged_dict(), cfg)
        validate_config(merged, source=source)
        return cls(
            method=merged["method"],
            seed=merged["seed"],
            data=_section(DataConfig, merged["data"], "data"),
            model=_section(ModelConfig, merged["model"], "model"),
            training=_section(TrainingConfig, merged["training"], "training"),
            test=_section(TestConfig, merged["test"], "test"),
            generation=_section(GenerationConfig, merged["generation"], "generation"),
            raw=_frozen(merged),
        )

    def to_dict(self) -> dict[str, Any]:
        """The merged config as a plain dict (what checkpoints record and ``alto config show`` prints)."""
        return _thawed(self.raw)

    def with_overrides(self, override: Mapping[str, Any]) -> ExperimentConfig:
        """This config with ``override`` merged in (dicts key by key), validated again."""
        return type(self).from_dict(merge_configs(self.to_dict(), override), source="<override>")

    @property
    def extractor(self) -> str | Mapping[str, Any]:
        """``generation.extractor`` with ``auto`` resolved: the preset of :attr:`ModelConfig.family`
        (region growing for ALTO, MISE for ConvONet, as each code base does)."""
        spec = self.generation.extractor
        return self.model.family if spec == AUTO else spec

    @property
    def is_scene(self) -> bool:
        """A rooms model: evaluated with wall removal, its inputs kept at the rooms' metric scale."""
        return self.test.remove_wall


@functools.cache
def _packaged_dict_frozen() -> Mapping[str, Any]:
    return _frozen(read_yaml(DEFAULT_CONFIG_PATH))


def _packaged_dict() -> dict[str, Any]:
    """The packaged ``default.yaml`` as a fresh plain dict."""
    return _thawed(_packaged_dict_frozen())


@functools.cache
def packaged_defaults() -> ExperimentConfig:
    """The packaged ``default.yaml`` as an :class:`ExperimentConfig` (the one home of every default)."""
    return ExperimentConfig.from_dict({}, source=str(DEFAULT_CONFIG_PATH))


def as_experiment(cfg: ExperimentConfig | Mapping[str, Any]) -> ExperimentConfig:
    """``cfg`` itself, or the :class:`ExperimentConfig` of a config dict (:meth:`ExperimentConfig.from_dict`)."""
    return cfg if isinstance(cfg, ExperimentConfig) else ExperimentConfig.from_dict(cfg)


def config_dict(cfg: ExperimentConfig | Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict of ``cfg``, as checkpoints record it."""
    return cfg.to_dict() if isinstance(cfg, ExperimentConfig) else dict(cfg)


def load_experiment(
    path: str | os.PathLike[str], *, overrides: Iterable[Mapping[str, Any]] = ()
) -> ExperimentConfig:
    """:func:`alto.config.load_config` (inheritance, defaults, ``overrides``, schema) as an
    :class:`ExperimentConfig`."""
    return ExperimentConfig.from_dict(load_config(path, overrides=overrides), source=str(path))
