"""riverbot: a Telegram bot for the river chief system (hezhang zhi)."""

__version__ = "0.1.0"
