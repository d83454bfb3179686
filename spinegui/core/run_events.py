"""The events of a run folder's events.jsonl, declared once: each kind's name, its fields, a check.

A job writes one JSON object a line, `{"t": seconds, "kind": KIND, ...fields}` (`JobContext.emit`,
`runfolder.append_event`); the GAN tab, `spinegui jobs` and the run listing read them back
(`runfolder.read_events`, which parses with `parse_lines` below). Emitters and readers name a kind
through the constants here, never as a bare string, so a renamed kind cannot leave a reader behind.

The TypedDicts say what the emitters really write (required fields first, `NotRequired` for those
only some emitters write); `check_event` holds an event to them. Readers never reject an event that
fails the check: an old run folder, or one written by a newer spinegui, must still read. The check
is for tests, and `JobContext.emit` refuses an unknown kind outright.

In core (no Qt, no torch) because gan/ and train/ emit and may not import spinegui.jobs.
"""
# No `from __future__ import annotations`: TypedDict reads NotRequired from evaluated annotations.

import json
import types
import typing
from typing import Any, Final, Literal, NotRequired, TypedDict, Union, get_args, get_origin

STATE: Final = "state"            # the run's state changed (child, or a reader for a dead child)
PROGRESS: Final = "progress"      # how far (throttled to one per 0.25 s)
LOSS: Final = "loss"              # a training step's losses (throttled to one per 0.25 s)
EPOCH: Final = "epoch"            # an epoch ended: its means, speed, validation scores
GAN_EPOCH: Final = "gan_epoch"    # an experiment's GAN epoch (a relayed "epoch", marked stage="gan")
METRIC: Final = "metric"          # one named score of one split
SAMPLE: Final = "sample"          # a fixed-noise sample grid was written
CHECKPOINT: Final = "checkpoint"  # a checkpoint was written
RESULT: Final = "result"          # what a sampling or quality job produced
LOG: Final = "log"                # a line for the user
DEVICE: Final = "device"          # the device actually used


class Event(TypedDict):
    t: float      # seconds since the run first started (a resumed run goes on counting)
    kind: str


class StateEvent(Event):
    state: str                            # one of runfolder.STATES
    message: NotRequired[str | None]      # why it ended (None when done)
    pid: NotRequired[int]                 # "running": the job process
    resume: NotRequired[bool]             # "running": restarted on an existing run


class ProgressEvent(Event):
    step: int
    total: int
    stage: NotRequired[str]               # experiment: "cache", "gan", "train", "done"
    protocol: NotRequired[str]            # experiment's GAN stage
    run: NotRequired[str]                 # experiment: the protocol-strategy-model key
    model: NotRequired[str]               # GAN: the class's model
    epoch: NotRequired[int]
    epochs: NotRequired[int]
    batch: NotRequired[int]
    batches: NotRequired[int]
    img_s: NotRequired[float]
    gpu_mem_mb: NotRequired[int]
    rss_mb: NotRequired[int]


class LossEvent(Event):
    step: int
    loss: NotRequired[float]              # selftest
    model: NotRequired[str]               # GAN:
    critic: NotRequired[float]
    generator: NotRequired[float | None]  # None between the generator's steps
    wasserstein: NotRequired[float]


class _GanEpochFields(TypedDict):
    model: NotRequired[str]
    seconds: NotRequired[float]
    img_s: NotRequired[float]
    critic: NotRequired[float]
    generator: NotRequired[float | None]
    wasserstein: NotRequired[float]
    rank_weight_spread: NotRequired[float]   # under DDP only


class EpochEvent(Event, _GanEpochFields):
    epoch: int                            # 1-based, the epoch that ended
    step: NotRequired[int]                # selftest
    run: NotRequired[str]                 # classifier: the experiment's run key, and its scores:
    train_loss: NotRequired[float]
    train_accuracy: NotRequired[float]
    val_accuracy: NotRequired[float]
    val_macro_f1: NotRequired[float]
    images: NotRequired[int]


class GanEpochEvent(Event, _GanEpochFields):
    epoch: int
    stage: str                            # "gan"
    protocol: str


class MetricEvent(Event):
    split: str                            # "val", "test"
    name: str
    value: float | None                   # None: undefined (an AUROC without both classes), or NaN
    run: NotRequired[str]
    epoch: NotRequired[int]


class SampleEvent(Event):
    model: str
    epoch: int
    path: str                             # relative to the run folder
    stage: NotRequired[str]               # relayed by an experiment
    protocol: NotRequired[str]


class CheckpointEvent(Event):
    step: int
    path: str                             # relative to the run folder


class ResultEvent(Event):
    out: NotRequired[str]                         # gan-sample: the folder written,
    written: NotRequired[dict[str, int]]          # images per class,
    epochs: NotRequired[dict[str, list[int]]]     # the epochs sampled per class
    path: NotRequired[str]                        # gan-quality: quality.json,
    feature_net: NotRequired[str]                 # the feature network used


class LogEvent(Event):
    message: str
    model: NotRequired[str]               # GAN: the class's model,
    images: NotRequired[int]              # and its training images
    step: NotRequired[int]
    stage: NotRequired[str]
    protocol: NotRequired[str]


class DeviceEvent(Event):
    device: str


KINDS: Final[dict[str, type]] = {
    STATE: StateEvent, PROGRESS: ProgressEvent, LOSS: LossEvent, EPOCH: EpochEvent, GAN_EPOCH: GanEpochEvent,
    METRIC: MetricEvent, SAMPLE: SampleEvent, CHECKPOINT: CheckpointEvent, RESULT: ResultEvent, LOG: LogEvent,
    DEVICE: DeviceEvent,
}


def _fields(schema: type) -> tuple[dict[str, Any], frozenset[str]]:
    return typing.get_type_hints(schema), schema.__required_keys__


_SCHEMAS: Final = {kind: _fields(schema) for kind, schema in KINDS.items()}


def check_event(event: Any) -> list[str]:
    """What is wrong with one event as read from events.jsonl (JSON types): an empty list when it
    matches its kind's TypedDict: no unknown kind, no missing field, no wrong type, no extra field."""
    if not isinstance(event, dict):
        return [f"not an object: {event!r:.80}"]
    kind = event.get("kind")
    if kind not in _SCHEMAS:
        return [f"unknown kind {kind!r}"]
    hints, required = _SCHEMAS[kind]
    problems = [f"{kind}: missing field {name!r}" for name in sorted(required - event.keys())]
    for name, value in event.items():
        if name not in hints:
            problems.append(f"{kind}: unknown field {name!r}")
        elif not _matches(value, hints[name]):
            problems.append(f"{kind}: field {name!r} is {value!r:.60}, not {_type_name(hints[name])}")
    return problems


def _matches(value: Any, tp: Any) -> bool:
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return True
    if tp is type(None):
        return value is None
    if origin in (Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if origin is Literal:
        return value in args
    if origin is list:
        return isinstance(value, list) and all(_matches(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(_matches(k, args[0]) and _matches(v, args[1])
                                               for k, v in value.items())
    if isinstance(value, bool):    # JSON true/false is no number
        return tp is bool
    if tp is float:
        return isinstance(value, (int, float))
    return isinstance(value, tp)


def _type_name(tp: Any) -> str:
    return tp.__name__ if isinstance(tp, type) and not get_args(tp) else str(tp).replace("typing.", "")


def parse_lines(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """The events in `data` (bytes of events.jsonl) and how many bytes they used: only complete
    lines; a line that is not a JSON object (a writer killed mid-line, then resumed) is skipped."""
    end = data.rfind(b"\n") + 1
    events = []
    for line in data[:end].splitlines():
        if not line.strip():
            continue
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if isinstance(ev, dict):
            events.append(ev)
    return events, end
