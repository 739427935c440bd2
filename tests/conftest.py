import random
import warnings

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_everything():
    """Every test starts from the same random state, so results are reproducible."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield
