"""Errors that reach the user as one line and a non-zero exit, never a traceback."""

from __future__ import annotations


class ReportgenError(Exception):
    """Base for errors caused by input the user controls (config, data, environment)."""

    exit_code = 1


class ConfigError(ReportgenError):
    """The configuration file is invalid; the message names file, line and key path."""

    exit_code = 2


class DataError(ReportgenError):
    """Source data cannot be used; the message names file, row and column."""

    exit_code = 3


class SourceUnavailable(ReportgenError):
    """A data source (folder, database) cannot be reached."""

    exit_code = 4


class RenderError(ReportgenError):
    """A report could not be rendered (for example no browser for chart export)."""

    exit_code = 5


class DeliveryError(ReportgenError):
    """Email delivery failed in a way the user must act on."""

    exit_code = 6


class LockHeld(ReportgenError):
    """Another process holds a lock this one needs (for example a second scheduler)."""

    exit_code = 7


class RunBusy(ReportgenError):
    """Another live process is building or sending the same preset and window."""

    exit_code = 8


class OutputError(ReportgenError):
    """A file or folder cannot be written (output folder, data folder, state directory)."""

    exit_code = 9


class LedgerDamaged(ReportgenError):
    """The run ledger is damaged or missing; it was set aside and nothing was sent."""

    exit_code = 10
