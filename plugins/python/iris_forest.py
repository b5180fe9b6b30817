# SPDX-License-Identifier: MIT
"""Cross-validated accuracy of a random forest on the iris data.

A jobd plugin written in Python (docs/python-plugins.md). It trains
scikit-learn's RandomForestClassifier on the iris data that ships inside
scikit-learn (150 flowers, 4 measurements, 3 species), scores it with
stratified k-fold cross-validation, and can classify new flowers with the
forest fitted on all 150.

Input (every field optional):
    {"n_estimators": 100, "max_depth": null, "folds": 5, "random_state": 0,
     "predict": [[5.1, 3.5, 1.4, 0.2], ...]}
Output:
    {"accuracy": 0.96, "fold_accuracies": [...], "folds": 5,
     "n_estimators": 100, "max_depth": null, "random_state": 0,
     "cached": false, "predictions": ["setosa", ...]}

Fitted forests are kept in the state init() returns, keyed by their
parameters: the second call with the same parameters costs no training.
The cache lives as long as the worker process (one per worker; a reload
starts new ones).
"""
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import StratifiedKFold, cross_val_score

__version__ = "1.0.0"
# Same input, same output (random_state is part of the input): a detached
# job may be run again after a crash.
RETRY_SAFE = True

MAX_ESTIMATORS = 2000
MAX_FOLDS = 20
MAX_CACHED = 32


def init(options):
    """Loads the data once per worker; options: {"max_cached": N}."""
    iris = load_iris()
    return {
        "X": iris.data,
        "y": iris.target,
        "names": [str(n) for n in iris.target_names],
        "models": {},  # (n_estimators, max_depth, folds, random_state) -> fit
        "max_cached": int(options.get("max_cached", MAX_CACHED)),
    }


def _int(value, name, lo, hi):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("%s: want an integer" % name)
    if not lo <= value <= hi:
        raise ValueError("%s: want %d to %d" % (name, lo, hi))
    return value


def _fit(state, key, job):
    n_estimators, max_depth, folds, random_state = key
    forest = RandomForestClassifier(n_estimators=n_estimators,
                                    max_depth=max_depth,
                                    random_state=random_state)
    cv = StratifiedKFold(n_splits=folds, shuffle=True,
                         random_state=random_state)
    job.progress(0.1, "cross-validating")
    scores = cross_val_score(forest, state["X"], state["y"], cv=cv)
    if job.cancelled():
        return None
    job.progress(0.8, "fitting on all data")
    forest.fit(state["X"], state["y"])
    if len(state["models"]) >= state["max_cached"]:
        state["models"].pop(next(iter(state["models"])))  # oldest first
    state["models"][key] = (forest, [float(s) for s in scores])
    return state["models"][key]


def process(input, job, state):
    if not isinstance(input, dict):
        raise ValueError("input: want an object")
    n_estimators = _int(input.get("n_estimators", 100), "n_estimators", 1,
                        MAX_ESTIMATORS)
    max_depth = input.get("max_depth")
    if max_depth is not None:
        max_depth = _int(max_depth, "max_depth", 1, 1000)
    folds = _int(input.get("folds", 5), "folds", 2, MAX_FOLDS)
    random_state = _int(input.get("random_state", 0), "random_state", 0,
                        2**32 - 1)
    key = (n_estimators, max_depth, folds, random_state)
    cached = key in state["models"]
    fit = state["models"][key] if cached else _fit(state, key, job)
    if fit is None:
        return None  # cancelled: the job ends so whatever is returned
    forest, scores = fit
    out = {
        "accuracy": sum(scores) / len(scores),
        "fold_accuracies": scores,
        "folds": folds,
        "n_estimators": n_estimators,
        "max_depth": max_depth,
        "random_state": random_state,
        "cached": cached,
    }
    if "predict" in input:
        rows = input["predict"]
        if (not isinstance(rows, list) or len(rows) > 10000 or
                not all(isinstance(r, list) and len(r) == 4 and
                        all(isinstance(v, (int, float)) and
                            not isinstance(v, bool) for v in r)
                        for r in rows)):
            raise ValueError("predict: want up to 10000 rows of 4 numbers "
                             "(sepal length, sepal width, petal length, "
                             "petal width, in cm)")
        out["predictions"] = ([state["names"][int(i)]
                               for i in forest.predict(rows)]
                              if rows else [])
    job.progress(1.0, "done")
    return out
