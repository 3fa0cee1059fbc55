"""The core of the deploy pipeline: plain Python that knows nothing of Invoke.

The task modules in ``tasks/`` read flags, ask this package for a plan, run it (or print it for ``--dry-run``) and report.
"""
