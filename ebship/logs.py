"""Why an update failed, in the instances' own words: their tail logs fetched, and the lines that explain the failure.

Elastic Beanstalk's events only point at eb-engine.log; the cause (an exception at start-up, an engine error) is in the
logs that RequestEnvironmentInfo (InfoType tail) compiles and RetrieveEnvironmentInfo hands out as pre-signed S3 URLs.
Every instance's tail is waited for (DescribeEnvironmentResources says which exist), on a budget of its own, after the
verdict is printed; after a failed Immutable or TrafficSplitting update the terminated instances' bundle logs are read
too (ebship.bundlelogs). Fetching them is a courtesy: whatever goes wrong here adds one line saying so, never changes a
verdict.
"""

from __future__ import annotations

import http.client
import re
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ebship import bundlelogs, envvars
from ebship.beanstalk import Beanstalk, Event, LogEntry
from ebship.clock import Clock, Deadline
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
# Tail logs travel through each instance's command channel; the EB CLI waits up to 2 minutes for them
# (ebcli/operations/logsops.py, retrieve_beanstalk_logs). The explanation gets as long, on a budget of its own: the
# verdict is printed before it, so the wait delays no one's knowing that the update failed.
TAIL_BUDGET_SECONDS = 120.0
# Seconds between RetrieveEnvironmentInfo calls: growing, a handful in all, adding up to more than the budget.
RETRIEVE_INTERVALS = (3.0, 5.0, 8.0, 12.0, 18.0, 25.0, 30.0, 30.0)
DOWNLOAD_SECONDS = (3.0, 10.0)  # each download's timeout: what is left of the budget, within these bounds
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


@dataclass
class Tails:
    """What a tail request brought within its budget: each instance's text, by instance id; the instances that exist
    but sent nothing; the downloads that failed, with why."""

    texts: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def running_instances(eb: Beanstalk, environment: str) -> list[str] | None:
    """The instances to wait for; None when they cannot be read: then the first tails to arrive are all there is."""
    try:
        return eb.instance_ids(environment)
    except PipelineError:
        return None


def duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 60 and seconds % 60 == 0 else f"{seconds:.0f} s"


def fetch_tails(
    eb: Beanstalk,
    environment: str,
    deadline: Deadline,
    console: Console,
    fetch: Callable[[str, float], str] = download,
) -> Tails:
    """Every instance's tail compiled for this request, waiting for all of them (those DescribeEnvironmentResources
    lists) until ``deadline``, and stopping as soon as they are all in."""
    expected = running_instances(eb, environment)
    if expected == []:
        raise LogsUnavailable("the environment has no running instance to send them")
    requested = eb.request_tail_logs(environment)
    # The service's clock when it answered; without it, any tail of the last minute (a second's rounding allowed).
    since = (requested or datetime.now().astimezone()) - timedelta(seconds=1 if requested else 60)
    of = f" of {len(expected)}" if expected is not None else ""
    console.print(f"  Fetching the instances' tail logs (up to {duration(deadline.seconds)}): 0{of} in")
    fresh: dict[str, LogEntry] = {}
    started = deadline.clock.monotonic()
    for interval in RETRIEVE_INTERVALS:
        deadline.sleep(interval)
        before = len(fresh)
        fresh = newest_since(eb.tail_logs(environment), since)
        if len(fresh) != before:
            waited = deadline.clock.monotonic() - started
            console.print(f"  Fetching the instances' tail logs: {len(fresh)}{of} in after {waited:.0f} s")
        if fresh and (expected is None or set(expected) <= set(fresh)):
            break
        if deadline.passed:
            break
    if not fresh:
        raise LogsUnavailable(f"no instance had sent them after {deadline.seconds:.0f} s")
    tails = Tails(missing=sorted(set(expected or ()) - set(fresh)))
    for instance, entry in sorted(fresh.items()):
        try:
            tails.texts[instance] = fetched(fetch, entry.url, deadline)
        except LogsUnavailable as error:
            tails.failed[instance] = reason(error)
    return tails


def newest_since(entries: list[LogEntry], since: datetime) -> dict[str, LogEntry]:
    """Each instance's newest tail compiled at or after ``since`` (older ones answer an earlier request)."""
    fresh: dict[str, LogEntry] = {}
    for entry in entries:
        if entry.sampled >= since and (entry.instance_id not in fresh or entry.sampled > fresh[entry.instance_id].sampled):
            fresh[entry.instance_id] = entry
    return fresh


def fetched(fetch: Callable[[str, float], str], url: str, deadline: Deadline) -> str:
    """One download; its error never carries the URL, which lets anyone read the logs (botocore model,
    EnvironmentInfoDescription: "Make the URL available only to trusted parties")."""
    try:
        return fetch(url, max(DOWNLOAD_SECONDS[0], min(DOWNLOAD_SECONDS[1], deadline.left)))
    except (OSError, ValueError, http.client.HTTPException) as error:  # urllib's errors, timeouts, a cut-off answer
        text = reason(error).replace(url, PRESIGNED).replace(url.partition("?")[2] or url, PRESIGNED)
        raise LogsUnavailable(text) from None


def print_lines(console: Console, instance: str, text: str, source: str = "") -> None:
    lines = explaining_lines(text)
    console.print(f"  [Instance: {instance}]{source}" + ("" if lines else " (its logs are empty)"))
    for line in lines:
        console.print(f"    {line}")


# API reference, EnvironmentInfoDescription (Message): "a presigned Amazon S3 URL. The files are deleted after 15 minutes.
# Anyone in possession of this URL can access the files before they are deleted."
TAILS_KEPT = "15 minutes"


def where_tails_stay(eb: Beanstalk, environment: str) -> str:
    """Where the tails just read are kept, and for how long: they hold whatever the app printed, secrets included."""
    try:
        found = eb.logs_location(environment)
    except PipelineError:
        found = None
    # Developer guide, using-features.logging ("Log location in Amazon S3"): resources/environments/logs/TYPE/ENV_ID/.
    where = f"s3://{found[0]}/resources/environments/logs/tail/{found[1]}/" if found else "Elastic Beanstalk's bucket"
    return (
        f"  These tails hold whatever the app printed: Elastic Beanstalk keeps them in {where} and deletes them after "
        f"{TAILS_KEPT}; until then anyone holding their pre-signed URLs can read them."
    )


def mask_what_the_environment_holds(eb: Beanstalk, application: str, environment: str, console: Console) -> None:
    """The app prints what its environment holds, and a run's own environment (a CI job given only the registry's
    credentials) may not hold the app's secrets: the values of the environment's own variables whose names say they
    are secret are masked too, before any of its logs is printed (and, under GitHub Actions, masked in the log)."""
    try:
        current = envvars.current_from_configuration(eb.configuration(application, environment))
    except PipelineError as error:
        console.print(f"  (Could not read {environment}'s variables to mask their secret values: {reason(error)}.)")
        return
    console.add_secrets(envvars.secret_current_values(current, frozenset()))


def explain_failure(
    eb: Beanstalk,
    environment: str,
    console: Console,
    deadline: Deadline,
    fetch: Callable[[str, float], str] = download,
    events: list[Event] | None = None,
    s3: Callable[[], Any] | None = None,
    application: str = "",
) -> None:
    """Prints why the update of ``environment`` failed: per instance, the lines of its tail logs that explain it; after
    an update that replaced the fleet (``events``), the terminated instances' bundle logs (read with ``s3``, an S3
    client, made on first use); then enhanced health's causes. Never raises for what it cannot get: it says so and how to get
    it by hand."""
    if application:
        mask_what_the_environment_holds(eb, application, environment, console)
    console.print("Why it failed (each instance's tail logs, then enhanced health's causes):")
    try:
        tails = fetch_tails(eb, environment, deadline, console, fetch)
    except (LogsUnavailable, PipelineError) as error:  # a courtesy: no failure here may change the verdict
        console.print(f"  Could not fetch the tail logs ({reason(error)}): {HOW_TO_GET}.")
        tails = Tails()
    for instance, text in tails.texts.items():
        print_lines(console, instance, text)
    if tails.texts:
        console.print(where_tails_stay(eb, environment))
    for instance, why in tails.failed.items():
        console.print(f"  [Instance: {instance}] could not download its tail logs ({why}): {HOW_TO_GET}.")
    if tails.missing:
        console.print(f"  No tail logs within {deadline.seconds:.0f} s from {', '.join(tails.missing)}: {HOW_TO_GET}.")
    if events and bundlelogs.replaced_fleet(events):
        explain_from_bundles(eb, environment, console, events, s3)
    try:
        causes = eb.health_causes(environment)
    except PipelineError as error:
        console.print(f"  Could not read enhanced health's causes ({reason(error)}).")
        return
    for cause in causes:
        console.print(f"  health cause: {cause}")


def explain_from_bundles(
    eb: Beanstalk, environment: str, console: Console, events: list[Event], s3: Callable[[], Any] | None
) -> None:
    """The update launched new instances and terminated them when it failed: their bundle logs, which they uploaded to
    S3 first, say why (a tail request reaches only the instances left)."""
    try:
        found = eb.logs_location(environment)
    except PipelineError as error:
        console.print(f"  Could not find where the terminated instances' bundle logs are ({reason(error)}).")
        return
    if found is None:
        return
    where = bundlelogs.location(*found)
    said = f"  The new instances this update terminated uploaded their bundle logs to {where.url()} (kept {bundlelogs.KEPT})"
    if s3 is None:
        console.print(said + ".")
        return
    try:
        client = s3()
        bundles = bundlelogs.newest_bundles(client, where, min(event.time for event in events))
        texts = {bundle.instance_id: bundlelogs.read_bundle(client, where.bucket, bundle) for bundle in bundles}
    except (PipelineError, ValueError, OSError) as error:
        console.print(f"{said}; could not read them ({reason(error)}): `aws s3 cp --recursive {where.url()} .`")
        return
    if not texts:
        console.print(f"{said}; none is there yet: `aws s3 ls --recursive {where.url()}`")
        return
    console.print(f"{said}:")
    for instance, text in texts.items():
        print_lines(console, instance, text, " (bundle logs, terminated)")


def reason(error: Exception) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text and not isinstance(error, LogsUnavailable) else text or type(error).__name__


def explainer(
    eb: Beanstalk, console: Console, clock: Clock, s3: Callable[[], Any] | None = None, application: str = ""
) -> Callable[[str, list[Event]], None]:
    """What a Deployer calls after an update failed, once the verdict is printed: an explanation on a budget of its own
    (TAIL_BUDGET_SECONDS, not the deploy's deadline). Ctrl-C stops it, and only it: the verdict stands."""

    def explain(environment: str, events: list[Event]) -> None:
        try:
            explain_failure(
                eb, environment, console, Deadline(clock, TAIL_BUDGET_SECONDS), events=events, s3=s3, application=application
            )
        except KeyboardInterrupt:
            console.error("Interrupted: the logs were not all fetched; the verdict above stands.")

    return explain
