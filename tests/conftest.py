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


@pytest.fixture
def cpu_only():
    """lamina on the CPU for this test, for tests of CPU-only paths or CPU-only behaviour (on a
    GPU machine lamina would pick CUDA by itself); the automatic choice comes back after."""
    import lamina

    lamina.config.set_device("cpu")
    yield
    lamina.config.set_device(None)
