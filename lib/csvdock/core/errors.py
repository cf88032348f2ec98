"""The exception base class. Each stage module defines its own small subclasses."""


class CsvdockError(Exception):
    """A problem csvdock understands and can explain to a user in one line."""


class ConfigError(CsvdockError):
    """The configuration (luigi.cfg, environment or CLI options) is not usable."""
