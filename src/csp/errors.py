"""Errors of the platform outside the domain: start-up and configuration."""


class StartupError(Exception):
    """Start-up cannot go on; the message is the one line the operator sees."""
