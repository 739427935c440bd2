"""The machine-learning workflow as a library: evaluation protocols, leakage checks, baselines,
the problem-type table, overfitting diagnosis and hyper-parameter tuning (docs/workflow.md).

Example:
    >>> import numpy as np
    >>> from lamina import workflow
    >>> workflow.suggest(np.array([0, 1, 1, 0])).loss
    'binary_crossentropy'
"""

from lamina.workflow.advisor import (
    PROBLEMS as PROBLEMS,
)
from lamina.workflow.advisor import (
    Suggestion as Suggestion,
)
from lamina.workflow.advisor import (
    check_setup as check_setup,
)
from lamina.workflow.advisor import (
    suggest as suggest,
)
from lamina.workflow.baselines import (
    Baseline as Baseline,
)
from lamina.workflow.baselines import (
    BaselineCallback as BaselineCallback,
)
from lamina.workflow.baselines import (
    baseline as baseline,
)
from lamina.workflow.baselines import (
    last_value_forecast as last_value_forecast,
)
from lamina.workflow.checks import (
    LeakageError as LeakageError,
)
from lamina.workflow.checks import (
    SplitReport as SplitReport,
)
from lamina.workflow.checks import (
    check_splits as check_splits,
)
from lamina.workflow.checks import (
    count_shared_samples as count_shared_samples,
)
from lamina.workflow.cross_validation import (
    CrossValidationResult as CrossValidationResult,
)
from lamina.workflow.cross_validation import (
    cross_validate as cross_validate,
)
from lamina.workflow.cross_validation import (
    higher_is_better as higher_is_better,
)
from lamina.workflow.diagnosis import (
    Diagnosis as Diagnosis,
)
from lamina.workflow.diagnosis import (
    diagnose as diagnose,
)
from lamina.workflow.diagnosis import (
    plot_diagnosis as plot_diagnosis,
)
from lamina.workflow.splits import (
    holdout_split as holdout_split,
)
from lamina.workflow.splits import (
    iterated_k_fold as iterated_k_fold,
)
from lamina.workflow.splits import (
    k_fold as k_fold,
)
from lamina.workflow.splits import (
    time_series_split as time_series_split,
)
from lamina.workflow.tuning import (
    PruningCallback as PruningCallback,
)
from lamina.workflow.tuning import (
    TuneResult as TuneResult,
)
from lamina.workflow.tuning import (
    tune as tune,
)
