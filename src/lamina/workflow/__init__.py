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
    Suggestion as Suggestion,
    check_setup as check_setup,
    suggest as suggest,
)
from lamina.workflow.baselines import (
    Baseline as Baseline,
    BaselineCallback as BaselineCallback,
    baseline as baseline,
    last_value_forecast as last_value_forecast,
)
from lamina.workflow.checks import (
    LeakageError as LeakageError,
    SplitReport as SplitReport,
    check_splits as check_splits,
    count_shared_samples as count_shared_samples,
)
from lamina.workflow.cross_validation import (
    CrossValidationResult as CrossValidationResult,
    cross_validate as cross_validate,
    higher_is_better as higher_is_better,
)
from lamina.workflow.diagnosis import (
    Diagnosis as Diagnosis,
    diagnose as diagnose,
    plot_diagnosis as plot_diagnosis,
)
from lamina.workflow.splits import (
    holdout_split as holdout_split,
    iterated_k_fold as iterated_k_fold,
    k_fold as k_fold,
    time_series_split as time_series_split,
)
from lamina.workflow.tuning import (
    PruningCallback as PruningCallback,
    TuneResult as TuneResult,
    tune as tune,
)
