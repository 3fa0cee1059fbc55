"""When the stand-in's state first satisfied a verdict rule: the moment result latency is counted from.

Read from the stand-in's own record (GET /_localeb/status, each environment's ``timeline``: localeb/README.md), never
from what a poller saw. ebship's rule (ebship/watch.py, README "How a deploy is judged"): the update's closing event,
the environment Ready, and, under enhanced health, a DescribeInstancesHealth report refreshed at or after the closing's
EventDate in which every instance runs the label, Deployed, with health Ok or Info. The EB CLI's rule is the closing
event alone. Green must then hold: the first report more than JUDGED_REPORTS report intervals after the closing, every
report since the first green one green too (the documented downgrade takes three failed checks).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ebship.watch import JUDGED_REPORTS, REPORT_INTERVAL

GREEN_STATUSES = ("Ok", "Info")
SUCCESS = "Environment update completed successfully."


@dataclass(frozen=True)
class Truth:
    closed: datetime  # the closing event's EventDate
    visible: datetime  # when DescribeEvents first showed it
    ready: datetime  # when DescribeEnvironments first showed Ready
    reported: datetime | None  # the report that completes JUDGED_REPORTS intervals of green after the closing
    message: str

    @property
    def succeeded(self) -> bool:
        return self.message == SUCCESS

    @property
    def settled(self) -> datetime | None:
        """When ebship's rule was first satisfied: closing visible, Ready, and the instances' report all there."""
        if self.reported is None:
            return None
        return max(self.visible, self.ready, self.reported)

    @property
    def settling(self) -> float | None:
        """Seconds the instances' report came after the closing event: the price of waiting for the truth."""
        return None if self.reported is None else (self.reported - self.closed).total_seconds()


def timeline(server: Any, environment: str) -> dict[str, Any]:
    entry = next(e for e in server.status()["environments"] if e["name"] == environment)
    return dict(entry["timeline"])


def truth(server: Any, environment: str, request_id: str, label: str) -> Truth | None:
    """The update ``request_id``'s closing and first settled report; None when it has not closed (yet).

    Every instance ever reported counts, so this is for environments whose instances stay (the bench's single-instance
    ones): an instance replaced or retired would keep its last report here while DescribeInstancesHealth drops it."""
    record = timeline(server, environment)
    closing = next((c for c in record["closings"] if c["request_id"] == request_id), None)
    if closing is None:
        return None
    closed = datetime.fromisoformat(closing["event_date"])
    reports = record["reports"]
    # The reports' interval, as the watcher learns it: the shortest gap between two reports of one instance.
    gaps = [
        datetime.fromisoformat(b["at"]) - datetime.fromisoformat(a["at"])
        for a, b in zip(reports, reports[1:], strict=False)
        if a["instance_id"] == b["instance_id"] and b["at"] > a["at"]
    ]
    interval = max(min(gaps), REPORT_INTERVAL) if gaps else REPORT_INTERVAL  # never under the documented 10 s
    latest: dict[str, dict[str, Any]] = {}  # each instance's last report, as DescribeInstancesHealth answers it
    green_from = closed  # green must hold from the closing, or from the last report that was not green
    reported = None
    for report in reports:
        latest[report["instance_id"]] = report
        at = datetime.fromisoformat(report["at"])
        if at < closed:
            continue
        settled = all(
            r["version_label"] == label and r["deployment_status"] == "Deployed" and r["health_status"] in GREEN_STATUSES
            and datetime.fromisoformat(r["at"]) >= closed
            for r in latest.values()
        )  # fmt: skip
        if not settled:
            green_from = at
            continue
        # ebship's rule: green has held in the reports for more than JUDGED_REPORTS intervals.
        if interval is not None and at - green_from > interval * JUDGED_REPORTS:
            reported = at
            break
    return Truth(
        closed,
        datetime.fromisoformat(closing["visible_at"]),
        datetime.fromisoformat(closing["ready_at"]),
        reported,
        closing["message"],
    )
