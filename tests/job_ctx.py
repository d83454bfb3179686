"""What a job target sees (spinegui.jobs.JobContext's interface), in-process for unit tests:
events in a list, and a stop request after a given number of should_stop() checks. Every event is
held to its declaration (spinegui/core/run_events.py) as it would be written to events.jsonl."""

import json

from spinegui.core.run_events import EPOCH, LOG, check_event
from spinegui.jobs.runfolder import event_line


class Ctx:
    def __init__(self, run_dir=None, stop_after=None):
        self.run_dir, self.events, self.stop_after, self.checks = run_dir, [], stop_after, 0

    def emit(self, kind, **fields):
        event = {"kind": kind, **fields}
        problems = check_event(json.loads(event_line({"t": 0.0, **event})))
        assert not problems, problems
        self.events.append(event)

    def log(self, message, **fields):
        self.emit(LOG, message=message, **fields)

    def should_stop(self):
        self.checks += 1
        return self.stop_after is not None and self.checks > self.stop_after

    def epochs(self):
        return [e for e in self.events if e["kind"] == EPOCH]
