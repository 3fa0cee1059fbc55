"""Errors a user can act on, each with the exit code its class of outcome gets."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1  # the work was tried and failed: a build, a test, a push, a deploy
EXIT_USAGE = 2  # bad input or settings: nothing was changed
EXIT_TIMEOUT = 3  # a wait ran past its deadline; the last known state is printed
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT): 128 + the signal's number, as shells report it


class PipelineError(Exception):
    """A failure to report as one clear message, without a traceback."""

    exit_code = EXIT_FAILED


class UsageError(PipelineError):
    """Bad input or settings, found before anything was changed."""

    exit_code = EXIT_USAGE


class DeployTimeout(PipelineError):
    exit_code = EXIT_TIMEOUT
