"""The app: its pure helpers (lab.explore) directly, then every endpoint through gradio_client on a launched page.

Tiny random decoders and the real MiniLM keep this fast; one slow test runs the real SmolLM2 ladder end to end.
"""

from __future__ import annotations

import json
import os
import socket
from collections import Counter

import numpy as np
import pytest
import torch

from lab.encoder import LLM2Vec
from lab.explore import actions, statistics
from lab.explore.corpus import MAX_CHARS, MAX_TEXTS, CorpusError, parse_corpus_text, read_upload
from lab.explore.engine import Engine
from lab.explore.examples import EXAMPLE_SETS, conll_sentences, load_example, stsb_sentences
from lab.explore.figures import project, scatter_figure
from lab.explore.search import results_html, top_k
from lab.explore.variants import default_variants, tiny_variants, unavailable_reason
from lab.variants import REFERENCES, VARIANTS

CORPUS = [
    "A man is playing a guitar.",
    "A woman is slicing an onion.",
    "The stock market fell sharply on Monday.",
    "Two dogs are running through the snow.",
    "A man plays an acoustic guitar on stage.",
    "Interest rates rose by half a point.",
]
CORPUS_BOX = "\n".join(CORPUS)


def free_port() -> int:
    """A free loopback port (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_tiny(engine: Engine, warm_up_umap: bool = True):
    """Launch the page on the tiny variants in this process (returns at once) -> (blocks, url)."""
    import app

    blocks = app.build_app(engine=engine, warm_up_umap=warm_up_umap)
    return blocks, app.launch(blocks, port=free_port(), block=False)


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> Engine:
    return Engine(tiny_variants(), device="cpu", cache_dir=tmp_path_factory.mktemp("embeddings"))


@pytest.fixture(scope="module")
def server(engine: Engine):
    blocks, url = launch_tiny(engine)
    yield url
    blocks.close()


@pytest.fixture(scope="module")
def client(server: str):
    from gradio_client import Client

    return Client(server, verbose=False)


def direct(model: str, texts, bidirectional: bool = True, pooling: str = "mean", max_length: int = 512) -> np.ndarray:
    """Embeddings computed without the app: a fresh LLM2Vec, unit length."""
    encoder = LLM2Vec.from_pretrained(
        model, bidirectional=bidirectional, pooling=pooling, max_length=max_length, device="cpu"
    )
    return encoder.encode(list(texts), normalize_embeddings=True)


# ---------------------------------------------------------------------------------------------- corpus parsing
def test_corpus_text_lines_labels_and_blank_lines():
    corpus = parse_corpus_text("  first text \n\n second   text\n")
    assert corpus.texts == ["first text", "second text"] and corpus.labels is None
    labelled = parse_corpus_text("sport\tThe match ended 2-1.\nmarkets\tShares fell.")
    assert labelled.texts == ["The match ended 2-1.", "Shares fell."] and labelled.labels == ["sport", "markets"]
    mixed = parse_corpus_text("sport\tThe match ended 2-1.\nNo label here.")
    assert mixed.labels is None and mixed.texts[0] == "sport The match ended 2-1."
    assert parse_corpus_text(labelled.to_text()) == labelled  # the text box round-trips


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ("", "The corpus is empty"),
        ("\n  \n", "The corpus is empty"),
        ("\n".join(f"text {i}" for i in range(MAX_TEXTS + 1)), f"the limit is {MAX_TEXTS:,}"),
        ("ok\n" + "x" * (MAX_CHARS + 1), f"Text 2 has {MAX_CHARS + 1:,} characters; the limit is {MAX_CHARS:,}"),
    ],
)
def test_corpus_caps_and_empty_input_name_the_limit(box, message):
    with pytest.raises(CorpusError, match=message):
        parse_corpus_text(box)


def test_uploads_txt_csv_tsv_jsonl(tmp_path):
    (tmp_path / "a.txt").write_text("one\n\ntwo\n")
    assert read_upload(tmp_path / "a.txt").texts == ["one", "two"]
    (tmp_path / "b.csv").write_text('id,Text,Label\n1,"Hello, world",greeting\n2,Shares fell,markets\n')
    csv_corpus = read_upload(tmp_path / "b.csv")
    assert csv_corpus.texts == ["Hello, world", "Shares fell"] and csv_corpus.labels == ["greeting", "markets"]
    (tmp_path / "c.csv").write_text("sentence\ttopic\nA cat.\tanimals\nA dog.\tanimals\n")
    assert read_upload(tmp_path / "c.csv").labels == ["animals", "animals"]
    rows = [{"text": "A cat.", "label": "animals"}, {"text": "Rates rose.", "label": "markets"}]
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    jsonl = read_upload(tmp_path / "d.jsonl")
    assert jsonl.texts == ["A cat.", "Rates rose."] and jsonl.labels == ["animals", "markets"]
    (tmp_path / "e.jsonl").write_text('{"text": "only text"}\n{"text": "more"}\n')
    assert read_upload(tmp_path / "e.jsonl").labels is None


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.jsonl", '{"text": "fine"}\n{"text": broken\n', "line 2 is not valid JSON"),
        ("list.jsonl", "[1, 2]\n", "line 1 is a list"),
        ("cols.csv", "a,b\n1,2\n", "no text column"),
        (
            "quote.csv",
            'text,label\nfine,a\n"never closed,b\nmore,c\n',
            "row starting at line 3: unexpected end of data",
        ),
        ("short.csv", "text,label\nA cat.,animals\nA dog.\n", r"line 3 has 1 field\(s\); the header has 2"),
        ("wide.csv", "text,label\nA cat.,animals,extra\n", r"line 2 has 3 field\(s\)"),
        ("empty.txt", "\n\n", "holds no texts"),
        ("doc.pdf", "%PDF", "unsupported file type '.pdf'"),
        ("long.txt", "y" * (MAX_CHARS + 5), f"the limit is {MAX_CHARS:,}"),
    ],
)
def test_malformed_uploads_give_readable_errors(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(CorpusError, match=message):
        read_upload(tmp_path / name)


def test_non_utf8_upload(tmp_path):
    (tmp_path / "latin.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(CorpusError, match="not UTF-8"):
        read_upload(tmp_path / "latin.txt")


# ---------------------------------------------------------------------------------------------- example sets
def test_stsb_and_conll_examples_are_real_labelled_and_balanced():
    stsb = stsb_sentences()
    assert len(stsb) > 2000 and set(stsb.labels) == {"captions", "news", "forums"}
    assert "A man with a hard hat is dancing." in stsb.texts
    conll = conll_sentences()
    topics = Counter(conll.labels)
    assert {"news", "soccer", "baseball"} <= set(topics) and min(topics.values()) >= 30
    assert not any(t.isupper() for t in conll.texts) and all(t.endswith(".") for t in conll.texts)  # no headlines
    assert not any(" 's " in t or " ." == t[-2:] for t in conll.texts)  # detokenised
    sample = load_example(next(iter(EXAMPLE_SETS)), 60)
    assert len(sample) == 60 and Counter(sample.labels) == {"captions": 20, "news": 20, "forums": 20}
    assert load_example(next(iter(EXAMPLE_SETS)), 60).texts == sample.texts  # seeded
    with pytest.raises(CorpusError, match="Unknown example set"):
        load_example("IMDB", 10)


# ---------------------------------------------------------------------------------------------- variants and engine
def test_default_variants_follow_the_shipped_adapters():
    from lab.adapters import shipped_adapters

    table = {v.label: v for v in default_variants()}
    assert list(table) == [
        "Uni (causal, weighted mean)",
        "Bi (no training)",
        "Bi+MNTP",
        "LLM2Vec (Bi+MNTP+SimCSE)",
        "MiniLM",
    ]
    uni = table["Uni (causal, weighted mean)"]
    assert (uni.bidirectional, uni.pooling) == (False, "weighted_mean")
    assert table["LLM2Vec (Bi+MNTP+SimCSE)"].adapters == ("mntp", "mntp-simcse")
    shipped = shipped_adapters("smollm2-135m")
    for variant in table.values():
        expected_ok = all(a in shipped for a in variant.adapters)
        assert (unavailable_reason(variant) is None) == expected_ok, variant.label


def test_the_app_reads_the_one_variant_table():
    """The page's rows are lab.variants' rows bound to a model: one table for probing, CLI, suite and app."""
    table = default_variants()
    rows = [*VARIANTS.values(), *REFERENCES.values()]
    assert len(table) == len(rows)
    for variant, row in zip(table, rows):
        assert variant.model is not None
        assert {**vars(variant), "model": None} == {**vars(row), "model": None}, row.name
    assert [v.model for v in table] == ["smollm2-135m"] * 4 + ["all-minilm-l6-v2"]
    tiny = {v.label: v for v in tiny_variants()}
    assert (tiny["Tiny Uni"].bidirectional, tiny["Tiny Uni"].pooling) == (False, VARIANTS["uni"].pooling)
    assert all("mean nothing" in v.note for v in tiny.values() if v.model.startswith("tiny-") and not v.adapters)
    assert "without a model" in unavailable_reason(VARIANTS["bi"])


def test_engine_embeddings_match_a_fresh_encoder_and_are_cached(engine):
    bi, uni = engine.variant("Tiny Bi"), engine.variant("Tiny Uni")
    calls = []
    first = engine.embed(bi, CORPUS, progress=lambda done, total: calls.append((done, total)))
    np.testing.assert_allclose(first, direct("tiny-llama", CORPUS), atol=1e-5)
    assert calls and calls[-1] == (len(CORPUS), len(CORPUS))
    again = engine.embed(bi, CORPUS[::-1] + CORPUS[:1], progress=lambda *a: calls.append("again"))
    assert "again" not in calls  # nothing recomputed
    np.testing.assert_array_equal(again[: len(CORPUS)], first[::-1])
    causal = engine.embed(uni, CORPUS)
    np.testing.assert_allclose(
        causal, direct("tiny-llama", CORPUS, bidirectional=False, pooling="weighted_mean"), atol=1e-5
    )
    assert not np.allclose(causal, first, atol=1e-3)  # Uni and Bi are different models
    assert engine.embed(bi, []).shape == (0, 64)


def test_engine_pooling_override_and_instruction(engine):
    bi, minilm = engine.variant("Tiny Bi"), engine.variant("MiniLM")
    last = engine.embed(bi, CORPUS[:3], pooling="last_token")
    np.testing.assert_allclose(last, direct("tiny-llama", CORPUS[:3], pooling="last_token"), atol=1e-5)
    np.testing.assert_array_equal(
        engine.embed(minilm, CORPUS[:2], pooling="last_token"), engine.embed(minilm, CORPUS[:2])
    )  # MiniLM keeps its trained mean pooling
    instructed = engine.embed(bi, CORPUS[:2], instruction="Find a sentence about music")
    model = LLM2Vec.from_pretrained("tiny-llama", device="cpu")
    expected = model.encode([("Find a sentence about music", t) for t in CORPUS[:2]], normalize_embeddings=True)
    np.testing.assert_allclose(instructed, expected, atol=1e-5)
    assert not np.allclose(instructed, engine.embed(bi, CORPUS[:2]), atol=1e-4)


def test_minilm_variant_equals_sentence_transformers_mean_pooling(engine):
    """ST's all-MiniLM-L6-v2: mean over every attended token ([CLS] and [SEP] included), then L2-normalise."""
    from transformers import AutoModel, AutoTokenizer

    from lab.models import resolve_model_path

    path = resolve_model_path("all-minilm-l6-v2")
    tokenizer, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    batch = tokenizer(CORPUS, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state  # (B, T, C)
    mask = batch["attention_mask"].unsqueeze(-1).float()  # (B, T, 1)
    expected = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    np.testing.assert_allclose(engine.embed(engine.variant("MiniLM"), CORPUS), expected, atol=1e-5)


def test_adapter_variant_merges_its_lora(tmp_path):
    """A variant with an adapter folder loads it, merged, exactly as LLM2Vec.from_pretrained(adapters=...) does."""
    from peft import LoraConfig, get_peft_model

    from lab.tiny import tiny_model

    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(tiny_model("llama"), config).save_pretrained(tmp_path / "lora")
    plain = VARIANTS["bi"].on("tiny-llama", label="Tiny Bi")
    adapted = plain.on("tiny-llama", label="Tiny Bi+LoRA", adapters=(str(tmp_path / "lora"),))
    engine = Engine([plain, adapted], device="cpu", cache_dir=tmp_path / "cache")
    assert unavailable_reason(adapted) is None
    reference = LLM2Vec.from_pretrained("tiny-llama", device="cpu", adapters=[str(tmp_path / "lora")])
    expected = reference.encode(CORPUS[:3], normalize_embeddings=True)
    np.testing.assert_allclose(engine.embed(adapted, CORPUS[:3]), expected, atol=1e-5)
    assert not np.allclose(engine.embed(plain, CORPUS[:3]), expected, atol=1e-3)  # the adapter changed the weights

    restarted = Engine([plain, adapted], device="cpu", cache_dir=tmp_path / "cache")
    assert restarted.missing(adapted, CORPUS[:3]) == 0
    np.testing.assert_array_equal(restarted.embed(adapted, CORPUS[:3]), engine.embed(adapted, CORPUS[:3]))
    assert not restarted.is_loaded(adapted)  # read from disk: no model loaded
    assert restarted.missing(adapted, CORPUS[:3], pooling="last_token") == 3  # pooling is in the key
    assert restarted.missing(adapted, CORPUS[:3], instruction="Find music") == 3  # and the instruction
    retrained = tiny_model("llama")
    torch.manual_seed(123)  # another random LoRA: other bytes
    get_peft_model(retrained, config).save_pretrained(tmp_path / "lora")
    assert Engine([adapted], device="cpu", cache_dir=tmp_path / "cache").missing(adapted, CORPUS[:3]) == 3


def test_unavailable_variant_is_a_note_not_a_crash(engine):
    missing = engine.variant("Tiny +missing adapter")
    assert "not trained yet" in unavailable_reason(missing)
    with pytest.raises(ValueError, match="unavailable"):
        engine.model(missing)
    selection = actions.select(engine, ["Tiny Bi", "Tiny +missing adapter"])
    assert [v.label for v in selection.variants] == ["Tiny Bi"] and "not trained yet" in selection.notes[missing.label]
    with pytest.raises(ValueError, match="None of the chosen variants can run"):
        actions.select(engine, ["Tiny +missing adapter"])
    with pytest.raises(ValueError, match="Unknown variant 'GPT-9'"):
        actions.select(engine, ["GPT-9"])
    with pytest.raises(ValueError, match="labels must be unique"):
        Engine([VARIANTS["bi"].on("tiny-llama"), VARIANTS["bi"].on("tiny-qwen2")])


# ---------------------------------------------------------------------------------------------- search and figures
def test_top_k_matches_a_manual_loop():
    rng = np.random.default_rng(0)
    corpus, query = rng.normal(size=(40, 8)), rng.normal(size=8)
    order, scores = top_k(query, corpus, 5)
    cosines = [float(np.dot(row, query) / (np.linalg.norm(row) * np.linalg.norm(query))) for row in corpus]
    manual = sorted(((c, i) for i, c in enumerate(cosines)), reverse=True)[:5]
    assert list(order) == [i for _, i in manual]
    np.testing.assert_allclose(scores, [s for s, _ in manual], rtol=1e-6)
    assert len(top_k(query, corpus, 100)[0]) == 40


def test_run_search_per_variant_and_html(engine):
    results, notes, size = actions.run_search(engine, CORPUS_BOX, "guitar music", "", ["Tiny Bi", "MiniLM"], None, 3)
    assert list(results) == ["Tiny Bi", "MiniLM"] and not notes and size == len(CORPUS)
    minilm = results["MiniLM"]
    assert minilm[0].text in ("A man is playing a guitar.", "A man plays an acoustic guitar on stage.")
    vectors = engine.embed(engine.variant("MiniLM"), CORPUS)
    query = engine.embed(engine.variant("MiniLM"), ["guitar music"])[0]
    assert [h.index for h in minilm] == list(np.argsort(-(vectors @ query))[:3])
    page = results_html(results)
    assert page.count('class="lab-card"') == 2 and "A man is playing a guitar." in page and "<script" not in page
    assert "&lt;b&gt;" in results_html({"x": [actions.Hit(1, 0, 0.5, "<b>bold</b>")]})  # texts are escaped


@pytest.mark.parametrize("method", ["PCA", "t-SNE", "UMAP"])
def test_projections_are_2d_and_deterministic(method):
    data = np.random.default_rng(1).normal(size=(30, 16)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    points = project(data, method)
    assert points.shape == (30, 2) and np.isfinite(points).all()
    np.testing.assert_allclose(project(data, method), points, atol=1e-4)
    with pytest.raises(ValueError, match="at least 4 texts"):
        project(data[:3], method)


def test_scatter_figure_colours_by_label_and_hovers_text():
    texts, labels = ["a <b>", "b", "c", "d"], ["x", "y", "x", "y"]
    points = {"V1": np.zeros((4, 2)), "V2": np.ones((4, 2))}
    figure = scatter_figure(points, texts, labels, "PCA")
    assert len(figure.data) == 4  # 2 variants x 2 labels
    assert [t.name for t in figure.data[:2]] == ["x", "y"]
    assert figure.data[0].showlegend and not figure.data[2].showlegend  # one legend for all subplots
    assert "a &lt;b&gt;" in figure.data[0].customdata[0]
    assert [a.text for a in figure.layout.annotations] == ["V1", "V2"]
    assert len(scatter_figure(points, texts, None, "UMAP").data) == 2


def test_run_pair_cosines_and_layer_curves(engine):
    cosines, figure, notes = actions.run_pair(
        engine, "The cat sat.", "A cat was sitting.", ["Tiny Uni", "Tiny Bi", "Tiny Qwen2 Bi", "MiniLM"], None
    )
    vectors = direct("tiny-qwen2", ["The cat sat.", "A cat was sitting."])
    assert cosines["Tiny Qwen2 Bi"] == pytest.approx(float(vectors[0] @ vectors[1]), abs=1e-5)
    assert set(cosines) == {"Tiny Uni", "Tiny Bi", "Tiny Qwen2 Bi", "MiniLM"} and not notes
    names = [trace.name for trace in figure.data]
    assert names == ["Tiny Uni = Tiny Bi", "Tiny Qwen2 Bi"]  # same weights share a curve; MiniLM has none
    assert len(figure.data[0].y) == 4 and figure.data[0].y[0] == pytest.approx(1.0)  # 3 layers + embeddings


def test_custom_variant_validation():
    assert actions.custom_variant("tiny-qwen3", False, "mean").label == "tiny-qwen3 (causal, mean)"
    with pytest.raises(ValueError, match="Type a model name"):
        actions.custom_variant("  ", True, "mean")
    with pytest.raises(ValueError, match="Unknown pooling 'max'"):
        actions.custom_variant("tiny-llama", True, "max")
    with pytest.raises(ValueError, match="Unknown model 'org/not-here'"):
        actions.custom_variant("org/not-here", True, "mean")


def test_build_app_without_launching(engine):
    import app

    blocks = app.build_app(engine=engine, warm_up_umap=False)
    names = {d.get("api_name") for d in blocks.config["dependencies"]}
    assert {"search", "plot", "pair", "load_example", "upload", "add_model", "overview"} <= names
    assert {"first_results", "experiments", "probe_plot", "watch_run", "attention", "unload_models"} <= names


def test_main_parses_host_port_share_and_the_safe_sharing_flags(monkeypatch, capsys):
    import app

    seen = {}
    monkeypatch.setattr(app, "launch", lambda blocks, host, port, share, auth: seen.update(host=host, auth=auth))
    monkeypatch.setattr(app, "build_app", lambda variants=None, allow_local=True: seen.update(local=allow_local))
    assert app.main([]) == 0 and seen == {"host": "127.0.0.1", "auth": None, "local": True}
    app.main(["--host", "0.0.0.0", "--port", "8001", "--share"])
    assert seen == {"host": "0.0.0.0", "auth": None, "local": False}  # shared: no local folders
    app.main(["--host", "0.0.0.0", "--allow-local-models", "--auth", "ann:secret"])
    assert seen == {"host": "0.0.0.0", "auth": ("ann", "secret"), "local": True}
    with pytest.raises(SystemExit):
        app.main(["--auth", "nopassword"])
    assert "--auth takes user:password; got 'nopassword'" in capsys.readouterr().err
    assert app.is_shared("127.0.0.1", share=True) and not app.is_shared("localhost", share=False)


def test_a_shared_page_refuses_local_folders(tmp_path):
    with pytest.raises(ValueError, match="Loading local folders .* is off on a shared page"):
        actions.custom_variant(str(tmp_path), True, "mean", allow_local=False)
    with pytest.raises(ValueError, match="off on a shared page"):
        actions.custom_variant("~/models/x", True, "mean", allow_local=False)
    assert actions.custom_variant("tiny-qwen2", True, "mean", allow_local=False).model == "tiny-qwen2"


# ---------------------------------------------------------------------------------------------- gradio_client
SEARCH_ARGS = dict(
    corpus=CORPUS_BOX,
    query="guitar music",
    instruction="",
    labels=["Tiny Uni", "Tiny Bi", "MiniLM"],
    pooling="variant default",
    k=3,
)


def search(client, **overrides):
    args = {**SEARCH_ARGS, **overrides}
    return client.predict(
        args["corpus"],
        args["query"],
        args["instruction"],
        args["labels"],
        args["pooling"],
        args["k"],
        api_name="/search",
    )


def test_client_search_returns_every_variant_and_matches_the_helpers(client, engine):
    status, page, raw = search(client, labels=["Tiny Uni", "Tiny Bi", "MiniLM", "Tiny +missing adapter"])
    assert f"Top 3 of {len(CORPUS)} texts" in status and "not trained yet" in status
    assert list(raw) == ["Tiny Uni", "Tiny Bi", "MiniLM"] and all(len(rows) == 3 for rows in raw.values())
    for label in raw:
        variant = engine.variant(label)
        corpus = engine.embed(variant, CORPUS)
        query = engine.embed(variant, ["guitar music"])[0]
        assert [row["index"] for row in raw[label]] == list(np.argsort(-(corpus @ query), kind="stable")[:3])
        assert raw[label][0]["score"] == pytest.approx(float(np.max(corpus @ query)), abs=1e-5)
        assert f'data-variant="{label}"' in page
    assert "lab-off" in page  # the unavailable variant's card


def test_client_search_instruction_and_pooling_change_results(client):
    plain = search(client, labels=["Tiny Bi"])[2]["Tiny Bi"]
    instructed = search(client, labels=["Tiny Bi"], instruction="Retrieve sentences about music")[2]["Tiny Bi"]
    pooled = search(client, labels=["Tiny Bi"], pooling="last_token")[2]["Tiny Bi"]
    assert [r["score"] for r in instructed] != [r["score"] for r in plain]
    assert [r["score"] for r in pooled] != [r["score"] for r in plain]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(corpus=""), "The corpus is empty"),
        (dict(query="   "), "The query is empty"),
        (dict(query="q" * (MAX_CHARS + 1)), f"the limit is {MAX_CHARS:,}"),
        (dict(corpus="\n".join(f"t{i}" for i in range(MAX_TEXTS + 1))), f"the limit is {MAX_TEXTS:,}"),
        (dict(labels=[]), "Pick at least one variant"),
        (dict(labels=["Tiny +missing adapter"]), "None of the chosen variants can run"),
        (dict(instruction="i" * 501), "the limit is 500"),
    ],
)
def test_client_search_bad_inputs_give_a_message(client, overrides, message):
    status, page, raw = search(client, **overrides)
    assert status.startswith("⚠️") and message in status and "Traceback" not in status
    assert page == "" and raw in ({}, None)


def test_client_plot_every_projection_and_too_few_texts(client):
    box = parse_corpus_text(load_example("STS-B sentences (label: genre)", 24).to_text()).to_text()
    for method in ("PCA", "t-SNE", "UMAP"):
        status, figure = client.predict(box, ["Tiny Bi", "MiniLM"], "variant default", method, api_name="/plot")
        assert status.startswith(method), status
        plot = json.loads(figure["plot"])
        assert [a["text"] for a in plot["layout"]["annotations"]] == ["Tiny Bi", "MiniLM"]
        assert {trace["name"] for trace in plot["data"]} == {"captions", "news", "forums"}
        assert sum(len(t["customdata"]) for t in plot["data"]) == 48  # 24 texts x 2 variants
    status, figure = client.predict("a\nb\nc", ["Tiny Bi"], "variant default", "PCA", api_name="/plot")
    assert "needs at least 4 texts" in status and figure is None


def test_client_pair_and_bad_pair(client):
    status, table, figure = client.predict(
        "The cat sat.", "A cat was sitting.", ["Tiny Bi", "MiniLM"], "mean", api_name="/pair"
    )
    assert "Cosine" in status and "Tiny Bi" in table and "MiniLM" in table
    assert [t["name"] for t in json.loads(figure["plot"])["data"]] == ["Tiny Bi"]
    status, table, figure = client.predict("", "A cat.", ["Tiny Bi"], "mean", api_name="/pair")
    assert "Sentence A is empty" in status and figure is None


def test_client_examples_and_uploads_keep_the_typed_corpus_for_undo(client, tmp_path):
    from gradio_client import handle_file

    typed = "my own first text\nmy own second text"
    box, status = client.predict("CoNLL-2003 news sentences (label: topic)", 40, typed, api_name="/load_example")
    corpus = parse_corpus_text(box)
    assert len(corpus) == 40 and "soccer" in corpus.labels and "Loaded 40 texts" in status and "Undo" in status
    box, status = client.predict(api_name="/undo_corpus")
    assert box == typed and "Restored" in status
    path = tmp_path / "mine.jsonl"
    path.write_text('{"text": "A cat.", "label": "animals"}\n{"text": "Rates rose.", "label": "markets"}\n')
    box, status = client.predict(handle_file(str(path)), "", api_name="/upload")
    assert box == "animals\tA cat.\nmarkets\tRates rose." and "2 labels" in status and "Undo" not in status
    bad = tmp_path / "bad.csv"
    bad.write_text('text,label\n"A cat sat,animals\nA dog.,animals\n')
    box, status = client.predict(handle_file(str(bad)), typed, api_name="/upload")
    assert "row starting at line 2" in status and "unterminated quote" in status and "Traceback" not in status
    assert box != "A cat sat,animals A dog.,animals"  # nothing replaced the corpus


def test_client_models_loaded_from_the_page_belong_to_that_session(client, server):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    status, update, table = client.predict("tiny-qwen3", True, "mean", ["Tiny Bi"], api_name="/add_model")
    assert "Loaded **tiny-qwen3 (bi, mean)**" in status and "tiny-qwen3 (bi, mean)" in table
    raw = search(client, labels=["tiny-qwen3 (bi, mean)"])[2]
    assert list(raw) == ["tiny-qwen3 (bi, mean)"] and len(raw["tiny-qwen3 (bi, mean)"]) == 3
    other = Client(server, verbose=False)  # another visitor does not see it: not even among their choices
    with pytest.raises(AppError, match="'tiny-qwen3 \\(bi, mean\\)'.* is not in the list of choices"):
        search(other, labels=["tiny-qwen3 (bi, mean)"])
    assert "tiny-qwen3" not in other.predict(api_name="/overview")[0]
    status, update, table = client.predict(["Tiny Bi", "tiny-qwen3 (bi, mean)"], api_name="/unload_models")
    assert status == "Unloaded tiny-qwen3 (bi, mean)." and "tiny-qwen3" not in table
    with pytest.raises(AppError, match="not in the list of choices"):
        search(client, labels=["tiny-qwen3 (bi, mean)"])
    status, *_ = client.predict("acme/no-such-model", True, "mean", ["Tiny Bi"], api_name="/add_model")
    assert "Unknown model 'acme/no-such-model'" in status and "Known names" in status
    status, *_ = client.predict("tiny-nosucharch", True, "mean", ["Tiny Bi"], api_name="/add_model")
    assert status.startswith("⚠️") and "tiny-nosucharch" in status


def test_engine_unloads_the_least_recently_used_extra_model(tmp_path):
    table = tiny_variants()[:2]
    engine = Engine(table, device="cpu", cache_dir=tmp_path, max_extra_models=1)
    first, second = (actions.custom_variant(name, True, "mean") for name in ("tiny-qwen2", "tiny-qwen3"))
    view = engine.with_variants([first, second])
    assert view.labels[-2:] == [first.label, second.label] and first.label not in engine.labels
    engine.model(table[0])
    view.model(first)
    assert view.is_loaded(first)
    view.model(second)  # over the cap: the least recently used extra model goes, the table's stays
    assert not view.is_loaded(first) and view.is_loaded(second) and engine.is_loaded(table[0])
    assert engine.unload(second) and not engine.is_loaded(second)
    assert not engine.unload(table[0]) and engine.is_loaded(table[0])  # the page's own rows stay


def test_client_overview_lists_variants(client):
    table, umap_state = client.predict(api_name="/overview")
    assert "Tiny +missing adapter" in table and "unavailable" in table and umap_state.startswith("UMAP:")


# ---------------------------------------------------------------------------------------------- the real models
@pytest.mark.slow
def test_real_smollm2_ladder_end_to_end():
    """The real page's variants on a small corpus: every available one answers; MiniLM finds the paraphrase."""
    from gradio_client import Client

    import app

    variants = [v for v in default_variants() if unavailable_reason(v) is None]
    blocks = app.build_app(variants, warm_up_umap=False)
    url = app.launch(blocks, port=free_port(), block=False)
    try:
        client = Client(url, verbose=False)
        labels = [v.label for v in variants]
        status, page, raw = search(client, labels=labels, query="Someone is playing the guitar.")
        assert list(raw) == labels, status
        assert raw["MiniLM"][0]["text"] in ("A man is playing a guitar.", "A man plays an acoustic guitar on stage.")
        uni, bi = raw["Uni (causal, weighted mean)"], raw["Bi (no training)"]
        assert [r["score"] for r in uni] != [r["score"] for r in bi]
        status, table, figure = client.predict(
            "A man is playing a guitar.", "Someone plays the guitar.", labels[:2], "variant default", api_name="/pair"
        )
        curve = json.loads(figure["plot"])["data"][0]
        assert curve["name"] == " = ".join(labels[:2])
        assert os.environ.get("HF_HUB_OFFLINE") == "1"
    finally:
        blocks.close()


def test_client_search_a_thousand_texts(client):
    box = load_example("STS-B sentences (label: genre)", 1000).to_text()
    status, page, raw = search(client, corpus=box, labels=["Tiny Bi"], k=10)
    assert "Top 10 of 1000 texts" in status and len(raw["Tiny Bi"]) == 10


# ---------------------------------------------------------------------------------------------- results on arrival
def test_preload_embeds_the_first_corpus_and_query_for_every_variant(tmp_path):
    from lab.explore.startup import Preload

    engine = Engine(tiny_variants(), device="cpu", cache_dir=tmp_path)
    labels = ["Tiny Uni", "Tiny Bi"]
    preload = Preload(engine, labels, CORPUS, ["guitar music"])
    assert "Preparing the first results" in preload.describe() and "0/2 ready" in preload.button_text()
    assert all(engine.missing(engine.variant(label), CORPUS) == len(CORPUS) for label in labels)
    assert preload.start().done.wait(timeout=300)
    for label in labels:
        assert engine.missing(engine.variant(label), CORPUS) == 0
        assert engine.missing(engine.variant(label), ["guitar music"]) == 0
    assert preload.describe() == "The first results are ready." and preload.button_text() == "Search"
    assert not engine.is_loaded(engine.variant("MiniLM"))  # only the labels asked for


def test_client_first_results_arrive_without_a_click(client):
    status, page, raw = client.predict(
        CORPUS_BOX, "guitar music", "", ["Tiny Bi", "MiniLM"], "variant default", 3, api_name="/first_results"
    )[:3]
    assert "Top 3 of 6 texts" in status and list(raw) == ["Tiny Bi", "MiniLM"]
    assert "pooling: mean" in page and "anisotropy" in page


def test_cards_name_the_pooling_that_ran(client):
    status, page, raw = search(client, labels=["Tiny Uni", "MiniLM"], pooling="last_token")
    assert page.count("pooling: last token") == 1 and page.count("pooling: mean") == 1  # MiniLM keeps its mean
    status, page, raw = search(client, labels=["Tiny Uni"])
    assert "pooling: weighted mean" in page


# ---------------------------------------------------------------------------------------------- experiments
def test_metrics_curves_skip_a_torn_line_and_follow_the_file(tmp_path):
    from lab.explore import experiments

    path = tmp_path / "metrics.jsonl"
    rows = [
        {"step": 1, "loss": 3.0, "accuracy": 0.1, "learning_rate": 1e-4},
        {"step": 2, "loss": 2.0, "grad_norm": 1.0},
        {"step": 2, "eval_loss": 2.5, "eval_accuracy": 0.3},
        {"step": 3, "train_loss": 2.2, "train_runtime": 9.0},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + '\n{"step": 4, "lo')  # a run still writing
    records = experiments.read_metrics(path)
    assert records == rows
    found = experiments.curves(records)
    assert found == {
        "loss": ([1, 2], [3.0, 2.0]),
        "accuracy": ([1], [0.1]),
        "eval_loss": ([2], [2.5]),
        "eval_accuracy": ([2], [0.3]),
    }
    figure = experiments.curves_figure({"run": records}, "t")
    assert sorted(t.name for t in figure.data) == sorted(found)
    assert experiments.run_folder(str(tmp_path))[0] == rows
    with pytest.raises(ValueError, match="No metrics.jsonl in"):
        experiments.run_folder(str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="Type a run folder"):
        experiments.run_folder("  ")


def test_experiments_read_whatever_results_exist(tmp_path):
    from lab.explore import experiments

    (tmp_path / "sts").mkdir()
    for name, score in (("a_uni", 0.25), ("b_bi", 0.5)):
        result = {"model": "m", "adapters": ["mntp"], "bidirectional": True, "pooling": "mean"}
        result["results"] = {"test": {"spearman": score, "pearson": score / 2, "pairs": 10}}
        (tmp_path / "sts" / f"{name}.json").write_text(json.dumps(result))
    (tmp_path / "sts" / "broken.json").write_text("{")
    rows = experiments.sts_rows(tmp_path)
    assert [(r["run"], r["spearman"], r["adapters"]) for r in rows] == [("a_uni", 0.25, "mntp"), ("b_bi", 0.5, "mntp")]
    assert list(experiments.sts_figure(rows).data[0].y) == [0.25, 0.5]
    (tmp_path / "probing" / "run").mkdir(parents=True)
    lines = ["task,variant,layer,accuracy", "pos,uni,0,0.5", "pos,uni,1,0.7", "pos,bi,0,0.4", "ner,uni,0,0.9"]
    (tmp_path / "probing" / "run" / "probe_results.csv").write_text("\n".join(lines) + "\n")
    files = experiments.probe_files(tmp_path)
    assert files == [tmp_path / "probing" / "run" / "probe_results.csv"]
    figure = experiments.probe_figure(files[0])
    assert [(t.name, list(t.x), list(t.y)) for t in figure.data] == [
        ("uni", [0.0, 1.0], [0.5, 0.7]),
        ("bi", [0.0], [0.4]),
        ("uni", [0.0], [0.9]),
    ]
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "x.json").write_text(json.dumps({"model": "m", "runs": [1], "plain": {"tps": 3.5}}))
    assert experiments.bench_rows(tmp_path) == [
        {"file": "x", "field": "model", "value": "m"},
        {"file": "x", "field": "plain", "value": "tps=3.5"},
    ]
    assert experiments.sts_rows(tmp_path / "none") == [] and experiments.probe_files(tmp_path / "none") == []


def test_shipped_adapter_curves_are_read_from_their_files():
    from lab.adapters import SHIPPED_DIR
    from lab.explore import experiments

    runs = experiments.adapter_runs()
    assert set(runs) == {p.parent.name for p in (SHIPPED_DIR / "smollm2-135m").glob("*/metrics.jsonl")}
    for name, records in runs.items():
        lines = (SHIPPED_DIR / "smollm2-135m" / name / "metrics.jsonl").read_text().splitlines()
        losses = [json.loads(line)["loss"] for line in lines if '"loss"' in line]
        assert experiments.curves(records)["loss"][1] == losses


def test_client_experiments_and_watching_a_run(client, tmp_path):
    from lab.explore import experiments

    status, training, sts_plot, sts_table, probe_choice, bench = client.predict(api_name="/experiments")
    rows = experiments.sts_rows()
    assert f"{len(rows)} STS-B runs" in status and f"{len(experiments.adapter_runs())} adapter runs" in status
    assert [row[0] for row in sts_table["data"]] == [r["run"] for r in rows]
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "loss": 1.5}\n')
    line, figure, timer = client.predict(str(tmp_path), api_name="/watch_run")
    assert "2 records" in line and "last step 2" in line
    assert json.loads(figure["plot"])["data"][0]["y"] == [2.0, 1.5]
    line, figure, timer = client.predict(str(tmp_path / "nope"), api_name="/watch_run")
    assert line.startswith("⚠️") and "No metrics.jsonl" in line and figure is None


# ---------------------------------------------------------------------------------------------- attention
def test_attention_weights_equal_a_hand_computed_softmax_under_each_mask():
    """Layer 0 of a tiny Llama, by hand: softmax(q k^T / sqrt(d) + mask) with RoPE, against the eager weights."""
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    from lab.explore.attention import attention_maps, mask_figure

    model = LLM2Vec.from_pretrained("tiny-llama", device="cpu")
    kernel = model.model.config._attn_implementation
    text = "The cat sat on the mat."
    batch = model.collate(model.tokenize([text]))
    decoder, ids = model.model, batch.input_ids
    with torch.no_grad():
        hidden = decoder.embed_tokens(ids)  # (1, T, C)
        attn, x = decoder.layers[0].self_attn, decoder.layers[0].input_layernorm(hidden)
        heads, kv, dim = decoder.config.num_attention_heads, decoder.config.num_key_value_heads, attn.head_dim
        q = attn.q_proj(x).view(1, -1, heads, dim).transpose(1, 2)  # (1, H, T, d)
        k = attn.k_proj(x).view(1, -1, kv, dim).transpose(1, 2)  # (1, KV, T, d)
        cos, sin = decoder.rotary_emb(hidden, batch.position_ids)
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        k = k.repeat_interleave(heads // kv, dim=1)  # (1, H, T, d)
        scores = q @ k.transpose(-1, -2) / dim**0.5  # (1, H, T, T)
        n = ids.shape[1]
        future = torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)  # (T, T) keys after the query
        causal = scores.masked_fill(future, float("-inf")).softmax(-1)[0].numpy()
        bidirectional = scores.softmax(-1)[0].numpy()
    for is_causal, expected in ((True, causal), (False, bidirectional)):
        maps = attention_maps(model, text, causal=is_causal)
        assert maps.weights.shape == (decoder.config.num_hidden_layers, heads, n, n)
        np.testing.assert_allclose(maps.weights[0], expected, atol=1e-5)
        np.testing.assert_allclose(maps.weights.sum(-1), 1.0, atol=1e-5)
    assert np.triu(attention_maps(model, text, causal=True).weights, k=1).max() == 0.0
    assert model.model.config._attn_implementation == kernel  # the encode path keeps its kernel
    assert len(maps.tokens) == n
    assert [list(t.z.sum(axis=1)) for t in mask_figure(maps.tokens).data] == [list(range(1, n + 1)), [n] * n]


def test_run_attention_per_variant_and_token_changes(engine):
    from lab.analysis import tokenwise_similarity

    masks, figure, changes, summary, notes = actions.run_attention(
        engine, "A man plays the guitar.", ["Tiny Uni", "Tiny Bi", "MiniLM"], 1, -1
    )
    assert [t.name for t in figure.data] == [None, None] and "no causal mask" in notes["MiniLM"]
    uni, bi = (np.array(t.z) for t in figure.data)
    assert np.triu(uni, k=1).max() == 0.0 and np.triu(bi, k=1).max() > 0.0  # Uni causal, Bi not
    assert [a.text for a in changes.layout.annotations] == ["Tiny Uni = Tiny Bi"]  # same weights: one map
    # the map of the first variant of the group (tiny models are drawn at random on load, so read that one's)
    expected = 1 - tokenwise_similarity(engine.model(engine.variant("Tiny Uni")), "A man plays the guitar.")
    np.testing.assert_allclose(np.array(changes.data[0].z), expected, atol=1e-6)
    assert "Tiny Uni = Tiny Bi" in summary
    with pytest.raises(ValueError, match="needs a decoder variant"):
        actions.run_attention(engine, "A man.", ["MiniLM"], 0, 0)
    with pytest.raises(ValueError, match="Head 99 does not exist"):
        actions.run_attention(engine, "A man.", ["Tiny Bi"], 0, 99)
    with pytest.raises(ValueError, match="the attention view shows at most"):
        actions.run_attention(engine, "word " * 100, ["Tiny Bi"], 0, 0)


def test_client_attention_tab(client):
    status, masks, figure, summary, changes = client.predict(
        "The cat sat on the mat.", ["Tiny Uni", "Tiny Bi", "MiniLM"], 2, 0, api_name="/attention"
    )
    assert "MiniLM" in status and "no causal mask" in status
    titles = [a["text"] for a in json.loads(figure["plot"])["layout"]["annotations"]]
    assert titles == ["Tiny Uni (layer 2)", "Tiny Bi (layer 2)"]  # tiny Llama has 3 layers: 0, 1, 2
    assert "Tiny Uni = Tiny Bi" in summary and json.loads(masks["plot"])["data"]
    status, *rest = client.predict("", ["Tiny Bi"], 0, 0, api_name="/attention")
    assert status.startswith("⚠️") and "The sentence is empty" in status


# ---------------------------------------------------------------------------------------------- statistics
def test_statistics_against_loops():
    from lab.explore import statistics as S

    rng = np.random.default_rng(0)
    a = rng.normal(size=(12, 6))
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b = a + 0.3 * rng.normal(size=a.shape)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    labels = ["x", "y", "z"] * 4
    k = 3
    nearest = S.neighbours(a, k)
    for i in range(12):  # a loop over every other text
        others = sorted((j for j in range(12) if j != i), key=lambda j: -float(a[i] @ a[j]))
        assert list(nearest[i]) == others[:k]
    share = np.mean([[labels[j] == labels[i] for j in nearest[i]] for i in range(12)])
    assert S.precision_at_k(nearest, labels) == pytest.approx(share)
    majority = [Counter(labels[j] for j in row).most_common(1)[0] for row in nearest]
    expected = np.mean(
        [label == labels[i] for i, (label, count) in enumerate(majority) if count > 1]
        + [labels[nearest[i][0]] == labels[i] for i, (label, count) in enumerate(majority) if count == 1]
    )  # a 1-1-1 tie goes to the nearest neighbour
    assert S.knn_accuracy(nearest, labels) == pytest.approx(expected)
    pairs = [float(a[i] @ a[j]) for i in range(12) for j in range(12) if i != j]
    assert S.anisotropy(a) == pytest.approx(np.mean(pairs))
    assert S.overlap_at_k(nearest, nearest) == 1.0 and S.rank_correlation(a, a) == pytest.approx(1.0)
    other = S.neighbours(b, k)
    assert S.overlap_at_k(nearest, other) == pytest.approx(
        np.mean([len(set(x) & set(y)) / k for x, y in zip(nearest, other)])
    )
    assert 0 < S.rank_correlation(a, b) < 1
    assert list(S.rank_normalise(np.array([0.0, 2.0, 10.0]), np.array([1.0, 2.0, 3.0, 4.0]))) == [0.0, 0.25, 1.0]
    with pytest.raises(ValueError, match="k must be from 1 to 11"):
        S.neighbours(a, 12)


def test_client_statistics_and_percentiles(client):
    box = "\n".join(f"{'music' if i % 2 else 'money'}\t{t}" for i, t in enumerate(CORPUS))
    status, rows, pairs = client.predict(box, ["Tiny Bi", "MiniLM"], "variant default", 2, api_name="/statistics")
    assert "k = 2" in status and rows["headers"][:2] == ["variant", "anisotropy (mean cosine)"]
    assert [r[0] for r in rows["data"]] == ["Tiny Bi", "MiniLM"] and "label precision@2" in rows["headers"]
    assert pairs["data"][0][:2] == ["Tiny Bi", "MiniLM"]
    status, rows, pairs = client.predict("a\nb\nc\nd", ["Tiny Bi"], "variant default", 9, api_name="/statistics")
    assert "k must be a whole number from 1 to 3" in status
    raw = search(client, labels=["MiniLM"])[2]["MiniLM"]
    assert raw[0]["percentile"] == pytest.approx((len(CORPUS) - 1) / len(CORPUS))  # the best beats all others


# ---------------------------------------------------------------------------------------------- linked maps
def test_neighbours_of_a_text_in_every_variant_and_the_star(engine):
    assert actions.find_text(CORPUS, "#3") == 3 and actions.find_text(CORPUS, "ACOUSTIC") == 4
    with pytest.raises(ValueError, match="There is no text #9"):
        actions.find_text(CORPUS, "#9")
    with pytest.raises(ValueError, match="No text of the corpus contains 'zebra'"):
        actions.find_text(CORPUS, "zebra")
    index, found, notes = actions.run_neighbours(engine, CORPUS_BOX, ["Tiny Bi", "MiniLM"], None, "guitar.", k=3)
    assert index == 0 and list(found) == ["Tiny Bi", "MiniLM"]
    for label, rows in found.items():
        vectors = engine.embed(engine.variant(label), CORPUS)
        scores = vectors @ vectors[0]
        scores[0] = -np.inf  # not its own neighbour
        assert [h.index for h in rows] == list(np.argsort(-scores, kind="stable")[:3])
        assert [h.rank for h in rows] == [1, 2, 3]
    assert found["MiniLM"][0].text == "A man plays an acoustic guitar on stage."
    points = {"V1": np.arange(12.0).reshape(6, 2), "V2": -np.arange(12.0).reshape(6, 2)}
    figure = scatter_figure(points, CORPUS, None, "PCA", highlight=4)
    stars = [t for t in figure.data if t.name == "highlighted"]
    assert [(list(t.x), list(t.y)) for t in stars] == [([8.0], [9.0]), ([-8.0], [-9.0])]  # text 4 in both panels
    assert list(figure.data[0].text) == [str(i) for i in range(6)]  # the click handler reads the index here


def test_client_neighbours_redraw_the_map_with_the_star(client):
    box = load_example("STS-B sentences (label: genre)", 24).to_text()
    status, figure = client.predict(box, ["Tiny Bi", "MiniLM"], "variant default", "PCA", api_name="/plot")
    texts = parse_corpus_text(box).texts
    status, figure, page = client.predict(box, ["Tiny Bi", "MiniLM"], "variant default", "#5", api_name="/neighbours")
    assert "text #5" in status and page.count('class="lab-card"') == 2
    stars = [t for t in json.loads(figure["plot"])["data"] if t["name"] == "highlighted"]
    assert len(stars) == 2 and all(t["text"] == ["5"] for t in stars) and texts[5][:20] in stars[0]["customdata"][0]
    status, figure, page = client.predict(box, ["Tiny Bi"], "variant default", "zebra-xyz", api_name="/neighbours")
    assert status.startswith("⚠️") and "No text of the corpus contains" in status


# ---------------------------------------------------------------------------------------------- export
def downloaded(output):
    """A download button's file as gradio_client returns it: an update whose value is the file's path (or None)."""
    return output["value"] if isinstance(output, dict) else output


def test_client_exports_embeddings_tables_and_the_map(client, engine):
    import csv

    status, *files = client.predict(CORPUS_BOX, "Tiny Bi", "variant default", api_name="/export_embeddings")
    npy, table = (downloaded(f) for f in files)
    assert status.startswith(f"Tiny Bi: {len(CORPUS)} texts x ")
    expected = engine.embed(engine.variant("Tiny Bi"), CORPUS)
    assert np.array_equal(np.load(npy), expected)
    with open(table, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    assert [r[2] for r in rows] == CORPUS
    assert np.array_equal(np.array([r[3:] for r in rows], dtype=np.float64).astype(np.float32), expected)
    status, *files = client.predict("", "Tiny Bi", "variant default", api_name="/export_embeddings")
    assert status.startswith("⚠️") and "corpus is empty" in status and [downloaded(f) for f in files] == [None, None]

    _, _, raw = search(client, labels=["Tiny Bi", "MiniLM"], k=2)
    with open(downloaded(client.predict(raw, api_name="/results_csv")), encoding="utf-8", newline="") as handle:
        back = list(csv.DictReader(handle))
    assert [(r["variant"], r["text"]) for r in back] == [(v, h["text"]) for v, hits in raw.items() for h in hits]

    client.predict(CORPUS_BOX, ["Tiny Bi", "MiniLM"], "variant default", 3, api_name="/statistics")
    per_variant, between = (downloaded(f) for f in client.predict(api_name="/statistics_csv"))
    with open(between, encoding="utf-8", newline="") as handle:
        pairs = list(csv.DictReader(handle))
    assert [(r["variant A"], r["variant B"]) for r in pairs] == [("Tiny Bi", "MiniLM")]
    vectors = {label: engine.embed(engine.variant(label), CORPUS) for label in ("Tiny Bi", "MiniLM")}
    assert float(pairs[0]["overlap@3"]) == statistics.between_variants(vectors, 3)[0]["overlap@3"]
    assert open(per_variant, encoding="utf-8").readline().startswith("variant,anisotropy")

    client.predict(CORPUS_BOX, ["Tiny Bi"], "variant default", "PCA", "3-D", api_name="/plot")
    page = open(downloaded(client.predict(api_name="/map_html")), encoding="utf-8").read()
    assert '"type":"scatter3d"' in page.replace(" ", "") and CORPUS[3] in page
    client.predict("The cat sat on the mat.", ["Tiny Uni"], 1, -1, api_name="/attention")
    page = open(downloaded(client.predict(api_name="/attention_html")), encoding="utf-8").read()
    assert "Tiny Uni (layer 1)" in page and '"type":"heatmap"' in page.replace(" ", "")
