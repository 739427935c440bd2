import os
import random
import sys

import numpy as np
import pytest
import torch

# Tests import the shared helpers as `from helpers import check_layer`.
sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture(autouse=True)
def _seed_everything():
    """Every test starts from the same random state, so results are reproducible."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield
