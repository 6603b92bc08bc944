"""Subcommands of ``python -m lab``; one module each (see ``lab.cli``)."""
