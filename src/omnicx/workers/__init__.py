"""Background work: the ingest resolver and the outbox runner, in a thread or a process."""

from omnicx.workers.memory import tune_gc
from omnicx.workers.process import WorkerProcess
from omnicx.workers.runner import Worker

__all__ = ["Worker", "WorkerProcess", "tune_gc"]
