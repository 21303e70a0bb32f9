"""Execution (floor 3): blocks, background jobs with events, experiments.

Nothing here imports Jupyter; widgets subscribe to :class:`Job` events.
"""

from ._blocks import Block as Block
from ._blocks import plan_blocks as plan_blocks
from ._experiment import Experiment as Experiment
from ._experiment import ExperimentResult as ExperimentResult
from ._experiment import PredictSettings as PredictSettings
from ._job import Event as Event
from ._job import Job as Job
from ._job import JobCancelled as JobCancelled
