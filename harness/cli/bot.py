"""`harness bot`: run the reference bot in the foreground (options in docs/bot.md)."""

from reference_bot.cli import HELP, add_arguments, run

__all__ = ["HELP", "add_arguments", "run"]
