"""riverbot: a Telegram bot for the river chief system (河长制)."""

__version__ = "0.1.0"
