"""Regressors on the encoded matrix, each with a lean ``predict`` and, where it can, attributions.

Every regressor predicts log price. ``contributions(Z)`` returns per-column effects in log
space plus a bias column (last), summing to the prediction:

* ``LinearModel`` (ridge) and ``HuberLinearModel``: coefficient x (value - training mean),
  bias = mean prediction (exact).
* ``XGBoostModel``: per-tree path attributions (Saabas), the fast approximation of TreeSHAP
  that ``Booster.predict(pred_contribs=True, approx_contribs=True)`` computes. Exact TreeSHAP
  costs ~1 ms of CPU per row for this forest (600 trees), which would cap a batch at ~2,000
  rows/s on two cores; the approximation agrees closely (r = 0.98 with exact SHAP values here)
  and still sums to the prediction. A path attribution depends only on the leaf a row reaches,
  so ``PathAttributions`` tabulates it once per leaf when the model is loaded (or first asked
  for attributions after ``fit``); a batch is then the leaves XGBoost finds (``pred_leaf``)
  times that sparse table. Same figures as XGBoost's own (to float32 rounding); on a
  10,000-row batch 0.42 s of CPU instead of 0.74 s.
* ``MLPModel``: midpoint gradient x input from the training mean (integrated gradients with
  one step): each column's effect is the network's gradient at the point halfway between the
  training mean and the house, times the house's distance from the mean in that column; bias =
  the prediction at the mean. Exact for a network that is quadratic along that path, not in
  general, so these effects do not quite sum to the prediction:
  the served ensemble reports what is left over under "other features" (see ``serving.py``).
* ``HistGBModel`` is a CV candidate only: its predict loops over trees in Python (~5 ms a
  call), too slow for the 10 ms single-row budget, so it never enters the served blend.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from typing import Any, Self

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import HuberRegressor, RidgeCV
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from training.features import row_parts, serving_pool, serving_threads


class LinearModel(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """Standardised ridge regression, cross-validated penalty, folded back to raw-scale weights."""

    def __init__(self, alphas: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)) -> None:
        self.alphas = alphas

    def fit(self, Z: np.ndarray, y: np.ndarray) -> Self:
        scaled, scale = self._standardised(Z)
        ridge = RidgeCV(alphas=self.alphas).fit(scaled, y)
        self._fold_back(ridge.coef_, float(ridge.intercept_), scale)
        self.alpha_ = float(ridge.alpha_)
        return self

    def _standardised(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.mean_ = Z.mean(axis=0)
        scale = Z.std(axis=0)
        scale[scale == 0] = 1.0
        return (Z - self.mean_) / scale, scale

    def _fold_back(self, coef: np.ndarray, intercept: float, scale: np.ndarray) -> None:
        """Weights on standardised columns to weights on the raw columns."""
        self.coef_ = coef / scale
        self.intercept_ = float(intercept - self.mean_ @ self.coef_)

    def predict(self, Z: np.ndarray) -> np.ndarray:
        result: np.ndarray = Z @ self.coef_ + self.intercept_
        return result

    def contributions(self, Z: np.ndarray) -> np.ndarray:
        effects = (Z - self.mean_) * self.coef_
        bias = np.full((len(Z), 1), self.intercept_ + self.mean_ @ self.coef_)
        return np.hstack([effects, bias])


class HuberLinearModel(LinearModel):
    """Standardised linear regression with Huber loss and an L2 penalty, folded back to raw-scale weights.

    Huber loss is squared for small residuals and linear beyond ``epsilon`` robust scales, so the
    few sales that are arm's-length on paper but far off the market pull the fit much less than
    under least squares (5-fold CV RMSE 0.0863 against ridge's 0.0869 on 2006-09 sales). The
    penalty barely matters here: ``alpha`` from 1 to 100 moved CV RMSE by under 0.0003.
    """

    def __init__(self, alpha: float = 30.0, epsilon: float = 1.35, max_iter: int = 2000) -> None:
        self.alpha = alpha
        self.epsilon = epsilon
        self.max_iter = max_iter

    def fit(self, Z: np.ndarray, y: np.ndarray) -> Self:
        scaled, scale = self._standardised(Z)
        centre = float(np.mean(y))
        huber = HuberRegressor(alpha=self.alpha, epsilon=self.epsilon, max_iter=self.max_iter)
        huber.fit(scaled, y - centre)
        self._fold_back(huber.coef_, float(huber.intercept_) + centre, scale)
        return self


class PathAttributions:
    """Each leaf's path attribution (Saabas): every split on the way from the root adds the change
    in the node's mean value (the hessian-weighted mean of its leaves, as XGBoost's own
    ``approx_contribs``) to the feature it splits on. Rows are the forest's nodes tree after tree
    (only leaves have entries), columns the features; ``bias`` is the base score plus every
    root's mean value."""

    def __init__(self, booster: Any) -> None:
        model = json.loads(bytes(booster.save_raw("json")))["learner"]
        trees = model["gradient_booster"]["model"]["trees"]
        n_features = int(model["learner_model_param"]["num_feature"])
        sizes = [len(tree["left_children"]) for tree in trees]
        self.offsets = np.cumsum([0, *sizes[:-1]], dtype=np.int64)
        rows: list[int] = []
        columns: list[int] = []
        values: list[float] = []
        bias = float(model["learner_model_param"]["base_score"].strip("[]"))
        for offset, tree in zip(self.offsets.tolist(), trees, strict=True):
            means = _node_means(tree)
            bias += means[0]
            for leaf, path in _leaf_paths(tree).items():
                for parent, child in path:
                    rows.append(offset + leaf)
                    columns.append(tree["split_indices"][parent])
                    values.append(means[child] - means[parent])
        self.table = sparse.csr_matrix((values, (rows, columns)), shape=(sum(sizes), n_features))
        self.bias = bias

    def effects(self, leaves: np.ndarray) -> np.ndarray:
        """Rows x features attributions of rows that reach ``leaves`` (``pred_leaf``'s node ids, a row's trees
        after one another). A large batch is split between ``serving_threads`` threads: scipy's product
        releases the GIL for most of its time (10,000 rows: ~110 ms on two threads against ~165 ms on one)."""
        reached = np.asarray(leaves, dtype=np.int64).reshape(-1, len(self.offsets)) + self.offsets
        threads = serving_threads(len(reached))
        if threads == 1:
            return self._effects(reached)
        parts = serving_pool().map(lambda rows: self._effects(reached[rows]), row_parts(len(reached), threads))
        return np.vstack(list(parts))

    def _effects(self, reached: np.ndarray) -> np.ndarray:
        n_rows, n_trees = reached.shape
        hits = sparse.csr_matrix(
            (np.ones(reached.size), reached.ravel(), np.arange(0, reached.size + 1, n_trees)),
            shape=(n_rows, self.table.shape[0]),
        )
        result: np.ndarray = (hits @ self.table).toarray()
        return result


def _node_means(tree: dict[str, Any]) -> list[float]:
    """Each node's hessian-weighted mean leaf value; a leaf's own value is in ``split_conditions``."""
    left, right, hessian = tree["left_children"], tree["right_children"], tree["sum_hessian"]
    means = [0.0] * len(left)

    def mean(node: int) -> float:
        if left[node] == -1:
            means[node] = float(tree["split_conditions"][node])
        else:
            low, high = left[node], right[node]
            means[node] = (mean(low) * hessian[low] + mean(high) * hessian[high]) / hessian[node]
        return means[node]

    mean(0)
    return means


def _leaf_paths(tree: dict[str, Any]) -> dict[int, list[tuple[int, int]]]:
    """Each leaf's (parent, child) steps from the root."""
    left, right = tree["left_children"], tree["right_children"]
    paths: dict[int, list[tuple[int, int]]] = {}
    stack: list[tuple[int, list[tuple[int, int]]]] = [(0, [])]
    while stack:
        node, path = stack.pop()
        if left[node] == -1:
            paths[node] = path
        else:
            stack.extend((child, [*path, (node, child)]) for child in (left[node], right[node]))
    return paths


_SETTING_THREADS = threading.Lock()


class XGBoostModel(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """Gradient-boosted trees via the native ``xgboost.train`` API; predicts with ``inplace_predict``.

    Training uses ``n_jobs`` threads (one by default: on a shared 2-core machine two OpenMP
    threads stall badly); prediction uses ``serving_threads`` (one thread for a small batch,
    ``SERVING_THREADS`` for a large one).
    """

    def __init__(
        self,
        n_estimators: int = 600,
        learning_rate: float = 0.05,
        max_depth: int = 4,
        subsample: float = 0.8,
        colsample_bytree: float = 0.3,
        min_child_weight: float = 2.0,
        reg_lambda: float = 1.0,
        n_jobs: int = 1,
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, Z: np.ndarray, y: np.ndarray) -> Self:
        import xgboost as xgb

        params: dict[str, Any] = {
            "objective": "reg:squarederror",
            "eta": self.learning_rate,
            "max_depth": self.max_depth,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "min_child_weight": self.min_child_weight,
            "lambda": self.reg_lambda,
            "nthread": self.n_jobs,
            "seed": self.random_state,
            "tree_method": "hist",
        }
        self.booster_ = xgb.train(params, xgb.DMatrix(Z, label=y), num_boost_round=self.n_estimators)
        self.__dict__.pop("paths_", None)
        return self

    def _threads(self, rows: int) -> int:
        """One thread for small batches (OpenMP start-up costs more than it saves), more for large."""
        wanted = serving_threads(rows)
        with _SETTING_THREADS:  # the parts of a split batch share the booster
            if getattr(self, "threads_", None) != wanted:
                self.booster_.set_param({"nthread": wanted})
                self.threads_ = wanted
        return wanted

    def predict(self, Z: np.ndarray) -> np.ndarray:
        self._threads(len(Z))
        return np.asarray(self.booster_.inplace_predict(Z), dtype=float)

    def contributions(self, Z: np.ndarray) -> np.ndarray:
        import xgboost as xgb

        paths = self._paths()
        leaves = self.booster_.predict(xgb.DMatrix(Z, nthread=self._threads(len(Z))), pred_leaf=True)
        effects = paths.effects(leaves)
        return np.hstack([effects, np.full((len(Z), 1), paths.bias)])

    def _paths(self) -> PathAttributions:
        """The per-leaf table: built when a loaded model is unpickled (before its first answer), and
        here on the first call after ``fit`` (the many fits of cross-validation never need one)."""
        paths: PathAttributions | None = self.__dict__.get("paths_")
        if paths is None:
            paths = self.paths_ = PathAttributions(self.booster_)
        return paths

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("threads_", None)
        state.pop("paths_", None)  # tabulated again from the booster on load
        if "booster_" in state:
            state["booster_"] = bytes(state["booster_"].save_raw("ubj"))
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if isinstance(state.get("booster_"), bytes):
            import xgboost as xgb

            booster = xgb.Booster()
            booster.load_model(bytearray(state["booster_"]))
            state["booster_"] = booster
            state["paths_"] = PathAttributions(booster)
        self.__dict__.update(state)


class HistGBModel(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """sklearn's histogram gradient boosting."""

    def __init__(
        self, max_iter: int = 300, learning_rate: float = 0.08, max_leaf_nodes: int = 15, random_state: int = 0
    ) -> None:
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.random_state = random_state

    def fit(self, Z: np.ndarray, y: np.ndarray) -> Self:
        with threadpool_limits(limits=1):
            self._fit(Z, y)
        return self

    def _fit(self, Z: np.ndarray, y: np.ndarray) -> None:
        self.model_ = HistGradientBoostingRegressor(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=self.random_state,
        ).fit(Z, y)

    def predict(self, Z: np.ndarray) -> np.ndarray:
        return np.asarray(self.model_.predict(Z), dtype=float)


VALIDATION_SHARE = 0.15
PATIENCE = 20
BATCH_ROWS = 64
LEARNING_RATE = 1e-3


def _epoch_function(tf: Any, net: Any, x: np.ndarray, t: np.ndarray, x_val: np.ndarray, t_val: np.ndarray) -> Any:
    """One compiled graph per epoch: every mini-batch step (Adam on mean squared error plus the L2
    penalties), then the validation loss. Keras' ``fit`` runs the same steps but spends ~0.1 s of
    Python per epoch on data handlers, callbacks and a separate evaluation, which made this net
    three quarters of ``make train``; one graph call per epoch is about 3x faster for the same fit."""
    optimizer = tf.keras.optimizers.Adam(LEARNING_RATE)
    x, t, x_val, t_val = (tf.constant(a) for a in (x, t, x_val, t_val))
    steps = -(-int(x.shape[0]) // BATCH_ROWS)

    @tf.function  # type: ignore[untyped-decorator]
    def epoch(order: Any) -> Any:
        for step in tf.range(steps):
            rows = order[step * BATCH_ROWS : (step + 1) * BATCH_ROWS]
            with tf.GradientTape() as tape:
                error = net(tf.gather(x, rows), training=True) - tf.gather(t, rows)
                loss = tf.reduce_mean(tf.square(error)) + tf.add_n(net.losses)
            optimizer.apply_gradients(
                zip(tape.gradient(loss, net.trainable_variables), net.trainable_variables, strict=True)
            )
        return tf.reduce_mean(tf.square(net(x_val, training=False) - t_val)) + tf.add_n(net.losses)

    return epoch


class MLPModel(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """A Keras tabular net (standardised inputs incl. one-hot levels, two hidden layers).

    TensorFlow is imported only inside ``fit``; the trained weights are copied to numpy so
    prediction needs neither TensorFlow nor a session.
    """

    def __init__(
        self,
        hidden: tuple[int, ...] = (128, 64),
        dropout: float = 0.1,
        l2: float = 1e-4,
        epochs: int = 300,
        random_state: int = 0,
    ) -> None:
        self.hidden = hidden
        self.dropout = dropout
        self.l2 = l2
        self.epochs = epochs
        self.random_state = random_state

    def fit(self, Z: np.ndarray, y: np.ndarray) -> Self:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import tensorflow as tf

        with contextlib.suppress(RuntimeError):
            tf.config.threading.set_intra_op_parallelism_threads(1)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        tf.keras.utils.set_random_seed(self.random_state)
        self.mean_ = Z.mean(axis=0)
        scale = Z.std(axis=0)
        scale[scale == 0] = 1.0
        self.scale_ = scale
        self.y_mean_ = float(y.mean())
        self.y_scale_ = float(y.std())
        inputs = tf.keras.Input(shape=(Z.shape[1],))
        layer = inputs
        for width in self.hidden:
            layer = tf.keras.layers.Dense(
                width, activation="relu", kernel_regularizer=tf.keras.regularizers.l2(self.l2)
            )(layer)
            layer = tf.keras.layers.Dropout(self.dropout)(layer)
        net = tf.keras.Model(inputs, tf.keras.layers.Dense(1)(layer))
        x = ((Z - self.mean_) / self.scale_).astype("float32")
        t = ((y - self.y_mean_) / self.y_scale_).astype("float32")[:, None]
        fit_rows = len(x) - int(len(x) * VALIDATION_SHARE)  # the last rows validate, as Keras' validation_split
        epoch = _epoch_function(tf, net, x[:fit_rows], t[:fit_rows], x[fit_rows:], t[fit_rows:])
        order = np.random.default_rng(self.random_state)
        best, best_weights, waited = np.inf, net.get_weights(), 0
        for _ in range(self.epochs):
            loss = float(epoch(tf.constant(order.permutation(fit_rows).astype("int32"))))
            if loss < best:
                best, best_weights, waited = loss, net.get_weights(), 0
            else:
                waited += 1
                if waited >= PATIENCE:
                    break
        net.set_weights(best_weights)
        dense = [layer for layer in net.layers if isinstance(layer, tf.keras.layers.Dense)]
        self.weights_ = [(np.asarray(d.kernel.numpy()), np.asarray(d.bias.numpy())) for d in dense]
        return self

    def predict(self, Z: np.ndarray) -> np.ndarray:
        h = (Z - self.mean_) / self.scale_
        for kernel, bias in self.weights_[:-1]:
            h = np.maximum(h @ kernel + bias, 0.0)
        kernel, bias = self.weights_[-1]
        return np.asarray((h @ kernel + bias)[:, 0] * self.y_scale_ + self.y_mean_, dtype=float)

    def contributions(self, Z: np.ndarray) -> np.ndarray:
        """Midpoint gradient x input from the training mean, bias (the prediction at the mean) last."""
        h = (Z - self.mean_) / self.scale_
        layer, masks = h / 2.0, []
        for kernel, bias in self.weights_[:-1]:
            before = layer @ kernel + bias
            masks.append(before > 0)
            layer = np.maximum(before, 0.0)
        gradient = masks[-1] * self.weights_[-1][0][:, 0]
        for i in range(len(masks) - 1, 0, -1):
            gradient = (gradient @ self.weights_[i][0].T) * masks[i - 1]
        gradient = gradient @ self.weights_[0][0].T
        at_mean = self.predict(self.mean_[None, :])[0]
        return np.hstack([gradient * h * self.y_scale_, np.full((len(Z), 1), at_mean)])
