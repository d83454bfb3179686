"""What a job target sees (spinegui.jobs.JobContext's interface), in-process for unit tests:
events in a list, and a stop request after a given number of should_stop() checks."""


class Ctx:
    def __init__(self, run_dir=None, stop_after=None):
        self.run_dir, self.events, self.stop_after, self.checks = run_dir, [], stop_after, 0

    def emit(self, kind, **fields):
        self.events.append({"kind": kind, **fields})

    def log(self, message, **fields):
        self.emit("log", message=message, **fields)

    def should_stop(self):
        self.checks += 1
        return self.stop_after is not None and self.checks > self.stop_after

    def epochs(self):
        return [e for e in self.events if e["kind"] == "epoch"]
