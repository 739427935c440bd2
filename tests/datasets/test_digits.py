import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from lamina.datasets import digits


def test_digits_look_like_mnist_and_do_not_change_between_calls():
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    assert x_train.shape == (1500, 28, 28) and x_test.shape == (297, 28, 28)
    assert x_train.dtype == x_test.dtype == y_train.dtype == y_test.dtype == np.uint8
    assert set(np.unique(y_train)) == set(range(10)) == set(np.unique(y_test))
    assert x_train.max() == 255 and x_train.min() == 0
    # MNIST's 4-pixel empty border around a 20x20 box.
    border = np.ones((28, 28), bool)
    border[4:24, 4:24] = False
    assert not x_train[:, border].any()
    (x_again, y_again), (x_test_again, _) = digits.load_data()
    assert np.array_equal(x_again, x_train) and np.array_equal(y_again, y_train)
    assert np.array_equal(x_test_again, x_test)


def test_each_image_is_its_bundled_digit_scaled_up_with_its_label():
    bunch = load_digits()
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    x = np.concatenate([x_train, x_test]).astype(float) / 255
    y = np.concatenate([y_train, y_test])
    order = np.random.RandomState(0).permutation(len(bunch.target))  # the documented split
    assert np.array_equal(y, bunch.target[order])
    # Each 5x5 patch of the 20x20 box covers the same area as a 2x2 patch of the 8x8 original,
    # so their mean grey levels (0-1) must agree up to interpolation blur at the edges.
    scaled = x[:, 4:24, 4:24].reshape(-1, 4, 5, 4, 5).mean(axis=(2, 4))
    original = (bunch.images[order] / 16).reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4))
    assert np.abs(scaled - original).max() < 0.2
    assert np.abs(scaled - original).mean() < 0.05


def test_a_linear_model_reads_the_digits():
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    model = LogisticRegression(max_iter=300)
    # One BLAS thread: on a shared 2-core machine more threads make lbfgs ~20x slower.
    with threadpool_limits(1):
        model.fit(x_train.reshape(len(x_train), -1) / 255.0, y_train)
    accuracy = model.score(x_test.reshape(len(x_test), -1) / 255.0, y_test)
    assert accuracy > 0.9
