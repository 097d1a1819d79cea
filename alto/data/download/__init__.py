"""Fetch the published datasets and weights, verify them and unpack them safely.

Four modules, each usable on its own:

* :mod:`~alto.data.download.sources`: what can be fetched (:data:`DATASETS`, ConvONet's
  checkpoints);
* :mod:`~alto.data.download.fetch`: :func:`download` streams a URL into a file,
  resumable and verified, following download confirmation pages;
* :mod:`~alto.data.download.extract`: :func:`extract` unpacks an archive after
  checking every entry (the security-critical part);
* :mod:`~alto.data.download.install`: :func:`install_dataset` and
  :func:`locate_dataset` combine them and stamp a complete dataset folder.

``alto data download`` (:mod:`alto.cli.data`) is the command over them.
"""

from alto.data.download.extract import extract
from alto.data.download.fetch import DownloadError, Fetched, download, fetch
from alto.data.download.files import sha256_file
from alto.data.download.install import (
    INSTALL_STAMP,
    install_dataset,
    is_installed,
    locate_dataset,
    read_install_stamp,
    write_metadata,
)
from alto.data.download.sources import CONVONET_CHECKPOINTS, DATASETS, SHAPENET_CATEGORIES, DatasetSource

__all__ = [
    "CONVONET_CHECKPOINTS",
    "DATASETS",
    "INSTALL_STAMP",
    "SHAPENET_CATEGORIES",
    "DatasetSource",
    "DownloadError",
    "Fetched",
    "download",
    "extract",
    "fetch",
    "install_dataset",
    "is_installed",
    "locate_dataset",
    "read_install_stamp",
    "sha256_file",
    "write_metadata",
]
