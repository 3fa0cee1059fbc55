"""Why an update failed, in the instances' own words: their tail logs fetched, and the lines that explain the failure.

Elastic Beanstalk's events only point at eb-engine.log; the cause (an exception at start-up, an engine error) is in the
logs that RequestEnvironmentInfo (InfoType tail) compiles and RetrieveEnvironmentInfo hands out as pre-signed S3 URLs.
Fetching them is a courtesy: whatever goes wrong here adds one line saying so, never changes a verdict.
"""

from __future__ import annotations

import http.client
import re
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ebship.beanstalk import Beanstalk, LogEntry
from ebship.clock import Deadline
from ebship.errors import PipelineError
from ebship.output import Console

TRACEBACK = "Traceback (most recent call last):"
# The last line of a traceback: the exception's (dotted) name, and its message after ": " when it has one.
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(?::.*)?$")
INTERLEAVED_LINES = 5  # lines of other output looked past for it
ENGINE_LOG = "eb-engine.log"
# Each file of a tail is framed by lines of dashes around its path (eb logs prints them as they come).
RULE = re.compile(r"^-{10,}\s*$")
# eb-engine.log on Amazon Linux 2 and later: "2024/01/02 03:04:05.678901 [ERROR] An error occurred during ...".
ENGINE_ERROR = re.compile(r"\[(ERROR|FATAL)\]")
LAST_LINES = 20
TRACEBACKS_SHOWN = 2  # gunicorn ends a failed boot with HaltServer's own traceback, below the one that explains it
TRACEBACK_LINES = 40
ENGINE_ERRORS_SHOWN = 10
MAX_LOG_BYTES = 1_000_000
WAIT_SECONDS = 30.0  # how long the instances get to compile their tails
PAST_DEADLINE_SECONDS = 10.0  # a failure already judged may be explained a little after the deploy's deadline
RETRIEVE_INTERVALS = (3.0, 4.0, 6.0, 8.0, 10.0)  # a handful of calls in all
PRESIGNED = "<pre-signed URL>"
HOW_TO_GET = "get them with `eb logs`, or RequestEnvironmentInfo (InfoType tail) then RetrieveEnvironmentInfo"


@dataclass(frozen=True)
class Section:
    path: str  # "" for text outside any framed file
    lines: list[str]


def sections(text: str) -> list[Section]:
    """A tail log split into its files (each framed by dashes around its path)."""
    lines = text.splitlines()
    found: list[Section] = []
    body: list[str] = []
    path, index = "", 0
    while index < len(lines):
        framed = index + 2 < len(lines) and RULE.match(lines[index]) and RULE.match(lines[index + 2])
        if framed:
            if path or any(line.strip() for line in body):
                found.append(Section(path, body))
            path, body, index = lines[index + 1].strip(), [], index + 3
            continue
        body.append(lines[index])
        index += 1
    if path or any(line.strip() for line in body):
        found.append(Section(path, body))
    return found


def tracebacks(lines: list[str]) -> list[list[str]]:
    """Each Python traceback in the lines: its header, its indented frames, and the exception line ending it."""
    found: list[list[str]] = []
    index = 0
    while index < len(lines):
        if TRACEBACK not in lines[index]:
            index += 1
            continue
        block = [lines[index]]
        index += 1
        while index < len(lines) and (not lines[index].strip() or lines[index][:1].isspace()):
            block.append(lines[index])
            index += 1
        # The exception line ("ModuleNotFoundError: No module named 'x'") ends it. The app's stdout and stderr reach the
        # log as two streams, so a line the app printed just before raising may land between the frames and it.
        for ahead in range(index, min(index + INTERLEAVED_LINES + 1, len(lines))):
            if TRACEBACK in lines[ahead]:
                break
            if EXCEPTION_LINE.match(lines[ahead]):
                block.append(lines[ahead])
                index = ahead + 1
                break
        found.append(block)
    return found


def shortened(block: list[str]) -> list[str]:
    """A traceback kept to its header and its last frames: the exception is at the end."""
    if len(block) <= TRACEBACK_LINES:
        return block
    return [block[0], "  ...", *block[-(TRACEBACK_LINES - 2) :]]


def app_lines(lines: list[str], last: int = LAST_LINES) -> list[str]:
    """The last distinct exceptions with their tracebacks (a worker per CPU raises the same one), else the last lines."""
    chosen: list[list[str]] = []
    for block in reversed(tracebacks(lines)):
        if block[-1] not in (seen[-1] for seen in chosen):
            chosen.insert(0, block)
        if len(chosen) == TRACEBACKS_SHOWN:
            break
    if chosen:
        return [line for block in chosen for line in shortened(block)]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines[-last:]


def explaining_lines(text: str, last: int = LAST_LINES) -> list[str]:
    """What explains a failure in one instance's tail: eb-engine.log's error lines, and from every other file (the
    app's output) its last exceptions with their tracebacks, or its last lines."""
    result: list[str] = []
    for section in sections(text):
        if section.path.endswith(ENGINE_LOG):
            chosen = [line for line in section.lines if ENGINE_ERROR.search(line)][-ENGINE_ERRORS_SHOWN:]
        else:
            chosen = app_lines(section.lines, last)
        if chosen:
            result += ([f"{section.path}:"] if section.path else []) + [f"  {line}" for line in chosen]
    return result


def download(url: str, timeout: float) -> str:
    """One instance's tail, over the pre-signed URL (https to S3 on AWS): the URL is the credential, so no signing."""
    if not url.startswith(("https://", "http://")):
        raise ValueError("the log's address is not an HTTP(S) URL")
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (scheme checked above)
        return bytes(response.read(MAX_LOG_BYTES)).decode("utf-8", errors="replace")


class LogsUnavailable(Exception):
    pass


def fetch_tails(
    eb: Beanstalk, environment: str, deadline: Deadline, fetch: Callable[[str, float], str] = download
) -> dict[str, str]:
    """Each instance's newest tail compiled for this request, by instance id."""
    requested = eb.request_tail_logs(environment)
    # The service's clock when it answered; without it, any tail of the last minute (a second's rounding allowed).
    since = (requested or datetime.now().astimezone()) - timedelta(seconds=1 if requested else 60)
    for interval in RETRIEVE_INTERVALS:
        deadline.sleep(interval)
        fresh: dict[str, LogEntry] = {}
        for entry in eb.tail_logs(environment):
            if entry.sampled >= since and (entry.instance_id not in fresh or entry.sampled > fresh[entry.instance_id].sampled):
                fresh[entry.instance_id] = entry
        if fresh:
            return {instance: fetched(fetch, entry.url, deadline) for instance, entry in sorted(fresh.items())}
        if deadline.passed:
            break
    raise LogsUnavailable(f"Elastic Beanstalk had not compiled them after {deadline.seconds:.0f} s")


def fetched(fetch: Callable[[str, float], str], url: str, deadline: Deadline) -> str:
    """One download; its error never carries the URL, which lets anyone read the logs (botocore model,
    EnvironmentInfoDescription: "Make the URL available only to trusted parties")."""
    try:
        return fetch(url, max(1.0, min(10.0, deadline.left)))
    except (OSError, ValueError, http.client.HTTPException) as error:  # urllib's errors, timeouts, a cut-off answer
        text = reason(error).replace(url, PRESIGNED).replace(url.partition("?")[2] or url, PRESIGNED)
        raise LogsUnavailable(text) from None


def explain_failure(
    eb: Beanstalk,
    environment: str,
    console: Console,
    deadline: Deadline,
    fetch: Callable[[str, float], str] = download,
) -> None:
    """Prints why the update of ``environment`` failed: per instance, the lines of its tail logs that explain it, and
    enhanced health's causes. Never raises for what it cannot get: it says so and how to get it by hand."""
    console.print("Why it failed (each instance's tail logs, then enhanced health's causes):")
    try:
        tails = fetch_tails(eb, environment, deadline, fetch)
    except (LogsUnavailable, PipelineError) as error:  # a courtesy: no failure here may change the verdict
        console.print(f"  Could not fetch the tail logs ({reason(error)}): {HOW_TO_GET}.")
        tails = {}
    for instance, text in tails.items():
        lines = explaining_lines(text)
        console.print(f"  [Instance: {instance}]" + ("" if lines else " (its tail logs are empty)"))
        for line in lines:
            console.print(f"    {line}")
    try:
        causes = eb.health_causes(environment)
    except PipelineError as error:
        console.print(f"  Could not read enhanced health's causes ({reason(error)}).")
        return
    for cause in causes:
        console.print(f"  health cause: {cause}")


def reason(error: Exception) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text and not isinstance(error, LogsUnavailable) else text or type(error).__name__


def explainer(eb: Beanstalk, console: Console) -> Callable[[str, Deadline], None]:
    """What a Deployer calls after an update failed: a bounded explanation, a little past the update's deadline at most."""

    def explain(environment: str, update_deadline: Deadline) -> None:
        seconds = max(0.0, min(WAIT_SECONDS, update_deadline.left + PAST_DEADLINE_SECONDS))
        explain_failure(eb, environment, console, Deadline(update_deadline.clock, seconds))

    return explain
