"""Regression with K-fold validation: the per-epoch mean validation MAE, then a final model.

The Boston housing example of *Deep Learning with Python* (section 3.6): few samples, so
validation uses K-fold (K=4) instead of a single hold-out; features normalized with statistics
of the training data only; ``Dense(64, relu) -> Dense(64, relu) -> Dense(1)`` with MSE loss and
MAE metric. ``lamina.workflow.cross_validate`` trains one fresh model per fold and gives the
mean validation MAE per epoch (the book's plot, smoothed), the epoch where it is lowest, and the
mean-/median-predictor baseline on the same folds. A final model is then trained on all
training data for that many epochs and scored on the test set.

The Boston housing data is used when it is in lamina's cache
(``~/.lamina/datasets/boston_housing.npz``); otherwise scikit-learn's bundled diabetes data
(442 patients, 10 features, a disease-progression score) plays its part offline.

Run: ``python examples/regression_kfold.py`` (``--quick``: a few seconds).
"""

from __future__ import annotations

import argparse
import os

import lamina
from lamina import layers, workflow


def load():
    from lamina.datasets._download import cache_home

    if os.path.exists(os.path.join(cache_home(), "datasets", "boston_housing.npz")):
        from lamina.datasets import boston_housing

        return boston_housing.load_data(), "Boston housing (prices in $1000s)"
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    tr, te = workflow.holdout_split(len(x), 0.2, seed=0)
    return ((x[tr], y[tr]), (x[te], y[te])), "scikit-learn diabetes (progression score)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few epochs")
    parser.add_argument("--out", default="lamina_demo_output", help="folder for the plot")
    args = parser.parse_args()

    ((x_train, y_train), (x_test, y_test)), source = load()
    print(f"Data: {source}, {len(x_train)} training and {len(x_test)} test samples")
    print(workflow.suggest(y_train))

    # Normalize with the training statistics only: the test data must stay unseen.
    mean, std = x_train.mean(0), x_train.std(0)
    x_train = ((x_train - mean) / std).astype("float32")
    x_test = ((x_test - mean) / std).astype("float32")
    y_train, y_test = y_train.astype("float32"), y_test.astype("float32")

    def build_model():
        model = lamina.Sequential(
            [
                layers.Dense(64, activation="relu", input_shape=(x_train.shape[1],)),
                layers.Dense(64, activation="relu"),
                layers.Dense(1),
            ]
        )
        model.compile(lamina.optimizers.RMSprop(learning_rate), "mse", metrics=["mae"])
        return model

    # --quick trains 10x fewer epochs with a 5x larger learning rate.
    epochs, batch_size, learning_rate = (20, 16, 5e-3) if args.quick else (200, 16, 1e-3)
    cv = workflow.cross_validate(
        build_model,
        x_train,
        y_train,
        k=4,
        epochs=epochs,
        batch_size=batch_size,
        seed=0,
        verbose=0 if args.quick else 1,
    )
    print(cv)
    best = cv.best_epoch("val_mae")
    mean_mae = cv.mean_curves["val_mae"]
    print(f"Mean validation MAE is lowest at epoch {best}: {mean_mae[best - 1]:.3f}")
    path = os.path.join(args.out, "regression_kfold_val_mae.png")
    cv.plot("val_mae", path, skip=min(10, epochs // 3), smooth=0.9)
    print(f"Mean validation MAE per epoch: {path}")

    final = build_model()
    final.fit(x_train, y_train, epochs=best, batch_size=batch_size, verbose=0)
    _, test_mae = final.evaluate(x_test, y_test, verbose=0)
    print("Test:", workflow.baseline(y_train, y_test).compare("mae", test_mae))


if __name__ == "__main__":
    main()
