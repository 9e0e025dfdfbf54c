"""User-facing errors: the CLI prints their message (no traceback) and exits with code 2."""


class FacesenseError(Exception):
    """Something the user can fix: bad input, bad config, missing file. The message says how."""


class DataError(FacesenseError):
    """A dataset, file or row that cannot be used as given."""


class ConfigError(FacesenseError):
    """A config file or key=value override that is not valid."""
