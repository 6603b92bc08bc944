"""The app under load: 8 gradio_client clients, each searching its own (already cached) corpus, at once vs one by one.

A page that serves visitors one after another takes as long at once as in turn (ratio 1); the page's per-event
concurrency lets searches overlap. Both phases answer the same requests on the same warm page, in one run:

    python -m bench.app_load --json results/bench/app-load-cpu.json

The page runs the tiny variants (random tiny decoders and MiniLM, as the app's tests do), so the request cost is the
page's own work (queueing, scoring, the result page) plus small forwards for the queries, not SmolLM2's.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from bench.common import write_report
from lab.explore.engine import Engine
from lab.explore.examples import stsb_sentences
from lab.explore.variants import tiny_variants

LABELS = ["Tiny Uni", "Tiny Bi", "MiniLM"]
QUERIES = ["a man plays music", "prices fell", "a dog in the snow", "someone is cooking"]


def free_port() -> int:
    """A free loopback port (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def corpora(clients: int, size: int) -> list[str]:
    """``clients`` distinct corpora of ``size`` STS-B sentences each, as the page's text box holds them."""
    texts = stsb_sentences().texts
    return ["\n".join(texts[i * size : (i + 1) * size]) for i in range(clients)]


def main(argv: list[str] | None = None) -> None:
    """Warm every corpus, then time all clients' searches serially and concurrently; print (and save) the report."""
    from gradio_client import Client

    import app

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=3, help="searches per client and phase")
    parser.add_argument("--corpus-size", type=int, default=200, help="texts in each client's corpus")
    parser.add_argument("--rounds", type=int, default=3, help="serial/concurrent pairs, medians reported")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    boxes = corpora(args.clients, args.corpus_size)
    blocks = app.build_app(engine=Engine(tiny_variants(), device="cpu"), warm_up_umap=False)
    url = app.launch(blocks, port=free_port(), block=False)
    try:
        clients = [Client(url, verbose=False) for _ in range(args.clients)]

        def session(i: int) -> None:
            for r in range(args.requests):
                query = QUERIES[(i + r) % len(QUERIES)]
                status, _page, _raw = clients[i].predict(
                    boxes[i], query, "", LABELS, "variant default", 3, api_name="/search"
                )
                if "Top 3" not in status:
                    raise RuntimeError(f"client {i}: {status}")

        for i in range(args.clients):  # warm-up: every corpus embedded and cached before timing
            session(i)
        serial, concurrent = [], []
        for _ in range(args.rounds):
            start = time.perf_counter()
            for i in range(args.clients):
                session(i)
            serial.append(time.perf_counter() - start)
            start = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                list(pool.map(session, range(args.clients)))
            concurrent.append(time.perf_counter() - start)
    finally:
        blocks.close()
    report = {
        "clients": args.clients,
        "requests_per_client": args.requests,
        "corpus_size": args.corpus_size,
        "variants": LABELS,
        "serial_s": [round(s, 3) for s in serial],
        "concurrent_s": [round(s, 3) for s in concurrent],
        "serial_median_s": round(statistics.median(serial), 3),
        "concurrent_median_s": round(statistics.median(concurrent), 3),
        "speedup": round(statistics.median(serial) / statistics.median(concurrent), 2),
    }
    write_report(report, args.json)


if __name__ == "__main__":
    main()
