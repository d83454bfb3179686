"""Jobs: run a training loop in its own process, stream its events, cancel it, resume it.

No Qt, and no torch at import time (a job's own module imports torch inside the job process).
The run folder format is in `runfolder`; the command-line side in `spinegui.cli.jobs`.
"""

from spinegui.jobs.context import JobContext, JobDiverged
from spinegui.jobs.jobqueue import JobQueue
from spinegui.jobs.registry import job_kinds, job_target, register_job
from spinegui.jobs.runfolder import (
    FINAL_STATES,
    STATES,
    RunSummary,
    can_resume,
    list_runs,
    read_config,
    read_events,
    read_status,
    refresh_status,
    request_cancel,
)
from spinegui.jobs.runner import JobHandle, cancel_run, start_job

__all__ = [
    "FINAL_STATES", "STATES", "JobContext", "JobDiverged", "JobHandle", "JobQueue", "RunSummary",
    "can_resume", "cancel_run", "job_kinds", "job_target", "list_runs", "read_config", "read_events",
    "read_status", "refresh_status", "register_job", "request_cancel", "start_job",
]
