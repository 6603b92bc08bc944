"""``python -m lab ...``: every experiment from the command line."""

from lab.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
