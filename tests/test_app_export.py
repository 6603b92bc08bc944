"""The app's downloads and its 3-D maps, as pure helpers: every file is parsed back with the standard library (or
numpy) and compared with what was written; the 3-D projection is checked against an SVD done here."""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest

from lab.explore import actions, downloads
from lab.explore.corpus import CorpusError
from lab.explore.engine import Engine
from lab.explore.figures import project, scatter_figure
from lab.explore.variants import tiny_variants
from tests.test_app import CORPUS, CORPUS_BOX, direct

TEXTS = ["plain", 'a "quoted", comma text', "tab\tinside? no: cleaned", "ünïcödé ✓", "   "]
LABELS = ["a", "b", "a", "c", ""]


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> Engine:
    return Engine(tiny_variants(), device="cpu", cache_dir=tmp_path_factory.mktemp("embeddings"))


def tricky_vectors() -> np.ndarray:
    """float32 values whose short decimal forms would not read back: thirds, subnormal-ish, huge, negative zero."""
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(len(TEXTS), 7)).astype(np.float32)
    vectors[0, :4] = [1 / 3, -0.0, 1e-38, 3.4e38]
    return vectors


def test_embeddings_npy_and_csv_read_back_exactly(tmp_path):
    vectors = tricky_vectors()
    npy = downloads.embeddings_npy(vectors, "Tiny Bi weighted_mean", tmp_path)
    path = downloads.embeddings_csv(vectors, TEXTS, LABELS, "Tiny Bi weighted_mean", tmp_path)
    assert npy.name == "tiny-bi-weighted_mean.npy" and path.name == "tiny-bi-weighted_mean.csv"
    loaded = np.load(npy)
    assert loaded.dtype == np.float32 and np.array_equal(loaded, vectors)
    with open(path, encoding="utf-8", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    assert header == ["index", "label", "text", *(f"e{j}" for j in range(7))]
    assert [int(r[0]) for r in rows] == list(range(len(TEXTS)))
    assert [r[1] for r in rows] == LABELS and [r[2] for r in rows] == TEXTS
    parsed = np.array([[float(v) for v in r[3:]] for r in rows], dtype=np.float32)
    assert np.array_equal(parsed, vectors)  # bit for bit, not rounded
    assert np.signbit(parsed[0, 1])  # even the sign of zero survives


def test_unlabelled_csv_and_a_mismatch(tmp_path):
    path = downloads.embeddings_csv(np.eye(3, dtype=np.float32), ["x", "y", "z"], None, "v", tmp_path)
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["label"] for r in rows] == ["", "", ""] and [r["e1"] for r in rows] == ["0.0", "1.0", "0.0"]
    with pytest.raises(ValueError, match=r"one row of embeddings per text; got \(3, 3\) for 2 texts"):
        downloads.embeddings_csv(np.eye(3), ["x", "y"], None, "v", tmp_path)


def test_table_csv_round_trip_keeps_columns_in_order_and_blanks(tmp_path):
    rows = [
        {"variant": "Tiny Uni", "anisotropy (mean cosine)": 0.8123, "label precision@10": 0.5},
        {"variant": 'say "hi", twice', "anisotropy (mean cosine)": 0.1},
    ]
    path = downloads.table_csv(rows, "statistics per variant", tmp_path)
    assert path.name == "statistics-per-variant.csv"
    with open(path, encoding="utf-8", newline="") as handle:
        back = list(csv.DictReader(handle))
    assert list(back[0]) == ["variant", "anisotropy (mean cosine)", "label precision@10"]
    assert back == [
        {k: str(v) for k, v in rows[0].items()},
        {**{k: str(v) for k, v in rows[1].items()}, "label precision@10": ""},
    ]
    with pytest.raises(ValueError, match="no table to export yet"):
        downloads.table_csv([], "empty", tmp_path)


def test_search_results_become_one_row_per_variant_and_hit(engine, tmp_path):
    found, _, _ = actions.run_search(engine, CORPUS_BOX, "guitar music", "", ["Tiny Bi", "MiniLM"], None, 2)
    raw = {label: [vars(hit) for hit in hits] for label, hits in found.items()}  # what the page's JSON holds
    rows = downloads.hit_rows(raw)
    assert [(r["variant"], r["rank"]) for r in rows] == [("Tiny Bi", 1), ("Tiny Bi", 2), ("MiniLM", 1), ("MiniLM", 2)]
    path = downloads.table_csv(rows, "search results", tmp_path)
    with open(path, encoding="utf-8", newline="") as handle:
        back = list(csv.DictReader(handle))
    assert [float(r["score"]) for r in back] == [h.score for hits in found.values() for h in hits]
    assert [r["text"] for r in back] == [h.text for hits in found.values() for h in hits]


def test_figure_html_is_standalone(tmp_path):
    points = {"V": np.arange(12.0).reshape(6, 2)}
    path = downloads.figure_html(scatter_figure(points, CORPUS, None, "PCA"), "PCA map", tmp_path)
    page = path.read_text(encoding="utf-8")
    assert path.name == "pca-map.html" and page.lower().startswith("<!doctype html>")
    assert not re.findall(r"<script[^>]*\ssrc=", page)  # no script fetched from anywhere: it opens offline
    assert len(page) > 1_000_000 and "plotly.js v" in page  # because plotly.js itself is inside
    assert "Two dogs are running through the snow." in page


def test_export_embeddings_are_the_variants_own(engine):
    npy, path, line = downloads.export_embeddings(engine, CORPUS_BOX, "Tiny Bi", "variant default")
    assert line.startswith(f"Tiny Bi: {len(CORPUS)} texts x ") and "mean pooling" in line
    vectors = np.load(npy)
    np.testing.assert_allclose(vectors, direct("tiny-llama", CORPUS, bidirectional=True), atol=1e-5)
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    assert np.array_equal(np.array([r[3:] for r in rows], dtype=np.float64).astype(np.float32), vectors)
    assert npy.parent == path.parent and npy.parent.parent == downloads.EXPORT_ROOT
    with pytest.raises(ValueError, match="None of the chosen variants can run"):
        downloads.export_embeddings(engine, CORPUS_BOX, "Tiny +missing adapter", None)
    with pytest.raises(CorpusError, match="The corpus is empty"):
        downloads.export_embeddings(engine, " \n", "Tiny Bi", None)


def test_file_stem():
    assert downloads.file_stem("custom:org/model:bi:mean") == "custom-org-model-bi-mean"
    assert downloads.file_stem("***") == "export"


# ---------------------------------------------------------------------------------------------- 3-D maps
def test_pca_in_3d_is_the_top_three_principal_directions():
    data = np.random.default_rng(5).normal(size=(20, 9)).astype(np.float32)
    points = project(data, "PCA", dims=3)
    centred = data - data.mean(axis=0)
    _, _, vt = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
    expected = centred @ vt[:3].T  # (20, 3)
    signs = np.sign(np.sum(points * expected, axis=0))  # each component is defined up to its sign
    np.testing.assert_allclose(points * signs, expected, atol=1e-4)
    with pytest.raises(ValueError, match="2 or 3 dimensions; got 4"):
        project(data, "PCA", dims=4)


def test_maps_in_3d_use_one_seed_for_every_variant(engine):
    for method in ("PCA", "t-SNE"):
        drawn, notes = actions.project_all(engine, CORPUS_BOX, ["Tiny Uni", "Tiny Bi"], None, method, dims=3)
        assert not notes and list(drawn.points) == ["Tiny Uni", "Tiny Bi"]
        for label, points in drawn.points.items():
            vectors = engine.embed(engine.variant(label), CORPUS)
            assert points.shape == (len(CORPUS), 3)
            np.testing.assert_allclose(points, project(vectors, method, seed=actions.MAP_SEED, dims=3), atol=1e-4)


def test_scatter_figure_in_3d_has_a_scene_per_variant_and_the_marked_text_in_each():
    points = {"V1": np.arange(18.0).reshape(6, 3), "V2": -np.arange(18.0).reshape(6, 3)}
    labels = ["x", "y", "x", "y", "x", "y"]
    figure = scatter_figure(points, CORPUS, labels, "UMAP", highlight=2)
    assert {type(t).__name__ for t in figure.data} == {"Scatter3d"}
    assert figure.layout.scene.domain.x != figure.layout.scene2.domain.x  # two panels side by side
    marked = [t for t in figure.data if t.name == "highlighted"]
    assert [(list(t.x), list(t.y), list(t.z)) for t in marked] == [([6.0], [7.0], [8.0]), ([-6.0], [-7.0], [-8.0])]
    assert [t.scene for t in marked] == ["scene", "scene2"] and all(list(t.text) == ["2"] for t in marked)
    first = figure.data[0]  # label "x" in V1: texts 0, 2, 4 carry their corpus index for the click handler
    assert list(first.text) == ["0", "2", "4"] and list(first.z) == [2.0, 8.0, 14.0]
    assert "3-D" in figure.layout.title.text
