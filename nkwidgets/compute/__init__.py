"""Execution (floor 3): blocks on a device mesh, memory guard, cache, jobs, experiments.

Nothing here imports Jupyter; widgets subscribe to :class:`Job` events.
"""

from ._batching import batch as batch
from ._blocks import Block as Block
from ._blocks import plan_blocks as plan_blocks
from ._cache import BlockCache as BlockCache
from ._distributed import initialize_distributed as initialize_distributed
from ._errors import BlockError as BlockError
from ._errors import CacheError as CacheError
from ._errors import DeviceCountError as DeviceCountError
from ._errors import MemoryBudgetError as MemoryBudgetError
from ._experiment import Experiment as Experiment
from ._experiment import ExperimentResult as ExperimentResult
from ._job import Event as Event
from ._job import Job as Job
from ._job import JobCancelled as JobCancelled
from ._memory import parse_budget as parse_budget
from ._mesh import device_mesh as device_mesh
from ._prediction import PredictSettings as PredictSettings
from ._runner import ExperimentPlan as ExperimentPlan
