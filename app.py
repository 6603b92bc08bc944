"""LLM2Vec Lab's web page: compare causal, bidirectional and LLM2Vec embeddings of SmolLM2 with a MiniLM baseline.

    python app.py                 # http://127.0.0.1:7860
    python app.py --port 8000 --host 0.0.0.0
    python app.py --tiny          # random tiny models: the page in seconds, for UI work

The work lives in ``lab.explore`` (pure functions, tested directly), the page in ``lab.app`` (one builder per tab);
this file only serves it: the command line, the safe-sharing rules, ``launch``.
"""

from __future__ import annotations

import argparse
import logging
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr  # noqa: E402

from lab.app import CSS, HEAD, build_app  # noqa: E402

logger = logging.getLogger("app")

LOOPBACK = ("127.0.0.1", "localhost", "::1")
MAX_FILE_SIZE = "5mb"  # uploads beyond this are refused by Gradio before they reach the parser (its cap is the same)

__all__ = ["build_app", "is_shared", "launch", "main", "parse_auth"]


def launch(
    app: gr.Blocks,
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    block: bool = True,
    auth: tuple[str, str] | None = None,
) -> str:
    """Serve the page; with ``block=False`` return at once (tests). Returns the local URL."""
    app.launch(
        server_name=host,
        server_port=port,
        share=share,
        prevent_thread_lock=not block,
        css=CSS,
        theme=gr.themes.Soft(),
        show_error=False,
        quiet=not block,
        auth=auth,
        max_file_size=MAX_FILE_SIZE,
        head=HEAD,
    )
    return app.local_url


def is_shared(host: str, share: bool) -> bool:
    """Whether other machines can reach the page: a public link, or any interface but loopback."""
    return share or host not in LOOPBACK


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """``user:password`` -> (user, password); ``ValueError`` when either part is missing."""
    if value is None:
        return None
    user, _, password = value.partition(":")
    if not user or not password:
        raise ValueError(f"--auth takes user:password; got {value!r}.")
    return user, password


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and serve the page until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link (off by default)")
    parser.add_argument("--tiny", action="store_true", help="random tiny models instead of SmolLM2 (UI work)")
    parser.add_argument(
        "--allow-local-models",
        action="store_true",
        help="let visitors of a shared page load local model folders and watch run folders (always on for loopback)",
    )
    parser.add_argument("--auth", default=None, help="user:password, asked for by the page (Gradio's login)")
    args = parser.parse_args(argv)
    try:
        auth = parse_auth(args.auth)
    except ValueError as error:
        parser.error(str(error))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from lab.explore.variants import tiny_variants

    shared = is_shared(args.host, args.share)
    if shared and auth is None:
        logger.warning(
            "The page is reachable beyond this machine and has no --auth: anyone who can reach it can use it."
        )
    allow_local = args.allow_local_models or not shared
    blocks = build_app(tiny_variants() if args.tiny else None, allow_local=allow_local)
    launch(blocks, args.host, args.port, args.share, auth=auth)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
