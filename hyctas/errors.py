"""Exceptions with messages meant for users: each names the file or key at fault and the fix."""


class HyctasError(Exception):
    """Base class of every error the pipeline reports to users."""


class ConfigError(HyctasError):
    """Invalid params.yaml value."""


class DataError(HyctasError):
    """Missing or corrupt dataset file."""


class ArchError(HyctasError):
    """Malformed or invalid architecture."""
