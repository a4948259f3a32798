"""Mixed-type tables: which columns are categorical, what is wrong with a column, and the
preprocessing object that maps rows to what the ``"tabular"`` networks learn from and back.

Layout of a transformed row: every continuous column (in column order), mapped to a standard
normal by its own quantile transform, then one one-hot block per categorical column. The
generator learns which slices are blocks (:attr:`MixedTablePreprocessor.blocks_`) and makes each
one exactly one-hot, so generated rows only ever hold categories seen in the data.
"""

from __future__ import annotations

import warnings
from numbers import Integral

import numpy as np

__all__ = ["MixedTablePreprocessor", "categorical_mask", "check_mixed_table", "integer_like", "table_categorical"]

#: A text column with at least this many rows, every value different, is read as an ID.
MIN_ROWS_FOR_ID = 20
#: Quantiles kept per continuous column (fewer on small tables: one per row).
N_QUANTILES = 1000


def _is_categorical_dtype(dtype) -> bool:
    """Object, string, category and bool (also pandas' nullable ``boolean``) columns."""
    return getattr(dtype, "kind", "O") in "OSUb" or str(dtype) in ("category", "string", "str", "boolean")


def categorical_mask(X, categorical_features, n_features: int) -> np.ndarray:
    """Boolean mask of ``X``'s categorical columns for ``categorical_features``.

    ``"auto"``: a DataFrame's object, string, category and bool columns; for an array, none
    (an object array must name them). Otherwise column indices, column names (DataFrames) or a
    boolean mask, as :class:`~imblearn.over_sampling.SMOTENC` takes them.
    """
    dtypes = getattr(X, "dtypes", None)
    if isinstance(categorical_features, str):
        if categorical_features != "auto":
            raise ValueError(
                "`categorical_features` must be 'auto', column indices, column names or a boolean mask. "
                f"Got {categorical_features!r} instead."
            )
        if dtypes is not None:
            return np.array([_is_categorical_dtype(d) for d in dtypes], dtype=bool)
        if getattr(X, "dtype", None) is not None and X.dtype.kind in "OSU":
            raise ValueError(
                f"X is a NumPy array of dtype {X.dtype}: say which columns are categorical with "
                "`categorical_features` (column indices or a boolean mask), as for SMOTENC, or pass a DataFrame."
            )
        return np.zeros(n_features, dtype=bool)
    from sklearn.utils._indexing import _get_column_indices

    key = np.asarray(categorical_features)
    if key.dtype.kind == "b" and key.shape != (n_features,):
        raise ValueError(
            f"`categorical_features` as a boolean mask needs one entry per column of X ({n_features}). "
            f"Got {key.shape[0] if key.ndim else key.size} entries instead."
        )
    if key.dtype.kind in "iu" and key.size and (key.min() < -n_features or key.max() >= n_features):
        raise ValueError(
            f"`categorical_features` holds column indices from {-n_features} to {n_features - 1} for X's "
            f"{n_features} columns. Got {categorical_features!r} instead."
        )
    plain = {"b": bool, "i": int, "u": int}.get(key.dtype.kind, str)  # sklearn wants Python scalars
    indices = _get_column_indices(X, [plain(k) for k in key.ravel()])
    mask = np.zeros(n_features, dtype=bool)
    mask[np.asarray(indices, dtype=int)] = True
    return mask


def table_categorical(X, preset: str, categorical_features) -> np.ndarray | None:
    """The categorical-column mask of a table for the sampler, or ``None`` when the table is all
    numeric and ``"tabular"`` was not asked for by name (it is then checked as a number array;
    ``"auto"`` still trains the ``"tabular"`` recipe on it), or the preset is an image preset
    (``build_networks`` then says it is for images)."""
    n_features = X.shape[1] if getattr(X, "ndim", 2) == 2 and hasattr(X, "shape") else len(X[0])
    mask = categorical_mask(X, categorical_features, n_features)
    if preset not in ("auto", "tabular", "mlp"):
        return None
    if preset == "mlp" and categorical_features == "auto":
        mask &= [getattr(d, "kind", "O") != "b" for d in getattr(X, "dtypes", [None] * n_features)]  # numbers to 'mlp'
    if preset == "mlp" and mask.any():
        names = [str(c) for c in getattr(X, "columns", range(n_features))]
        raise ValueError(
            f"Columns {[n for n, m in zip(names, mask) if m]} of X are categorical, and `preset='mlp'` models "
            "numeric columns only. Use preset='tabular' (what preset='auto' picks for them), or encode them as "
            "numbers first."
        )
    return mask if preset == "tabular" or mask.any() else None


def _missing(values: np.ndarray) -> np.ndarray:
    """Where a 1-D object or number column holds None, NaN, NaT or pandas.NA."""
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind != "O":
        return np.zeros(len(values), dtype=bool)
    try:
        import pandas as pd

        return np.asarray(pd.isna(values), dtype=bool)
    except ImportError:  # pandas is optional
        return np.array([v is None or (isinstance(v, float) and v != v) for v in values], dtype=bool)


def check_mixed_table(columns: list[np.ndarray], names: list[str], categorical: np.ndarray) -> None:
    """Clear errors, naming the column, for what the ``"tabular"`` recipe cannot learn from.

    ``columns`` are 1-D arrays (one per column of X), ``categorical`` the mask of categorical
    columns. Missing and infinite values and non-numbers in a continuous column are refused;
    a text column whose values are all different (an ID) is refused; a categorical column with
    a single value only warns (in a cross-validation fold a rare category may leave a column
    constant; it is generated as that value). Nothing is modified.
    """
    for name, values, is_cat in zip(names, columns, categorical):
        if _missing(values).any():
            raise ValueError(
                f"Column {name!r} of X holds missing values (None/NaN); CGANOverSampler needs complete rows. "
                "Impute them first (for example with sklearn.impute.SimpleImputer, or a category such as "
                "'missing' for a categorical column), or drop those rows or the column."
            )
        if is_cat:
            _check_categorical(name, values)
            continue
        try:
            numbers = values.astype(np.float64)
        except (TypeError, ValueError):
            example = next((v for v in values if not _is_number(v)), values[0])
            raise ValueError(
                f"Column {name!r} of X is continuous but holds {example!r}, not a number. List it in "
                "`categorical_features` if it is categorical, or convert it to numbers."
            ) from None
        if np.isinf(numbers).any():
            raise ValueError(
                f"Column {name!r} of X holds infinite values; CGANOverSampler needs finite numbers. Replace them "
                "with finite values (or with NaN, then impute), or drop those rows."
            )


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _check_categorical(name: str, values: np.ndarray) -> None:
    n_unique = len(_categories(values))
    is_text = values.dtype.kind in "SU" or (values.dtype.kind == "O" and isinstance(values[0], str))
    if is_text and n_unique == len(values) >= MIN_ROWS_FOR_ID:
        raise ValueError(
            f"Column {name!r} of X holds a different value in every row ({n_unique:,} values), like an ID; "
            "generated rows could only repeat its values, which say nothing about the class. Drop it."
        )
    if n_unique == 1:
        warnings.warn(
            f"Column {name!r} of X holds one value only ({values[0]!r}); every generated row repeats it.",
            UserWarning,
            stacklevel=4,
        )


def _categories(values: np.ndarray) -> np.ndarray:
    """The distinct values of a column, sorted when they can be (else in order of appearance)."""
    try:
        return np.unique(values)
    except TypeError:  # mixed types (e.g. 1 and "a") do not sort
        seen = {}
        for v in values:
            seen.setdefault(v, None)
        out = np.empty(len(seen), dtype=object)
        out[:] = list(seen)
        return out


class MixedTablePreprocessor:
    """Mixed-type rows <-> continuous columns normalised plus one-hot blocks (float32).

    Continuous columns are mapped to a standard normal by a quantile transform each
    (:class:`sklearn.preprocessing.QuantileTransformer`): skewed and multi-modal columns
    (amounts, incomes) become plain bell curves, and the inverse maps generated values back
    inside each column's observed range. Categorical columns become one-hot blocks.

    Parameters
    ----------
    categorical : array of bool
        Which columns are categorical.
    integer_columns : array of bool or None
        Continuous columns whose generated values are rounded to whole numbers.
    """

    def __init__(self, categorical: np.ndarray, integer_columns: np.ndarray | None = None):
        self.categorical = categorical
        self.integer_columns = integer_columns

    def fit(self, X: np.ndarray) -> "MixedTablePreprocessor":
        from sklearn.preprocessing import QuantileTransformer

        categorical = np.asarray(self.categorical, dtype=bool)
        self.continuous_ = np.flatnonzero(~categorical)
        self.categorical_ = np.flatnonzero(categorical)
        self.dtype_ = X.dtype
        self.categories_ = [_categories(X[:, j]) for j in self.categorical_]
        self.quantiles_ = None
        if len(self.continuous_):
            values = X[:, self.continuous_].astype(np.float64)
            n_quantiles = max(2, min(N_QUANTILES, len(X)))
            # no randomness: subsample=None keeps every row, so fit needs no random_state
            self.quantiles_ = QuantileTransformer(n_quantiles=n_quantiles, output_distribution="normal", subsample=None)
            self.quantiles_.fit(values)
        integer = self.integer_columns if self.integer_columns is not None else np.zeros(X.shape[1], dtype=bool)
        if X.dtype.kind in "iu":
            integer = np.ones(X.shape[1], dtype=bool)
        self.round_ = np.asarray(integer, dtype=bool)[self.continuous_]
        start, self.blocks_ = len(self.continuous_), []
        for cats in self.categories_:
            self.blocks_.append([start, start + len(cats)])
            start += len(cats)
        self.n_features_in_ = X.shape[1]
        return self

    @property
    def data_shape(self) -> list[int]:
        """``[width]``: continuous columns plus the one-hot blocks."""
        return [self.blocks_[-1][1] if self.blocks_ else len(self.continuous_)]

    def transform(self, X: np.ndarray) -> np.ndarray:
        parts = []
        if self.quantiles_ is not None:
            parts.append(self.quantiles_.transform(X[:, self.continuous_].astype(np.float64)))
        for j, cats in zip(self.categorical_, self.categories_):
            codes = _codes(X[:, j], cats)
            parts.append(np.eye(len(cats))[codes])
        return np.ascontiguousarray(np.hstack(parts), dtype=np.float32)

    def inverse_transform(self, samples: np.ndarray) -> np.ndarray:
        """Generated rows -> rows of X's columns (categories by each block's largest entry), X's dtype."""
        samples = np.asarray(samples, dtype=np.float64)
        out = np.empty((len(samples), self.n_features_in_), dtype=object if self.dtype_.kind == "O" else np.float64)
        if self.quantiles_ is not None:
            n = len(self.continuous_)
            values = self.quantiles_.inverse_transform(samples[:, :n])
            values[:, self.round_] = np.rint(values[:, self.round_])
            out[:, self.continuous_] = values
        for j, cats, (a, b) in zip(self.categorical_, self.categories_, self.blocks_):
            out[:, j] = cats[samples[:, a:b].argmax(1)]
        return out.astype(self.dtype_, copy=False)


def _codes(values: np.ndarray, categories: np.ndarray) -> np.ndarray:
    if categories.dtype.kind != "O" or values.dtype.kind != "O":
        try:
            return np.searchsorted(categories, values)
        except TypeError:
            pass
    index = {v: i for i, v in enumerate(categories)}
    return np.array([index[v] for v in values], dtype=np.int64)


def integer_like(columns: list[np.ndarray], categorical: np.ndarray, dtypes) -> np.ndarray:
    """Continuous columns to round: integer dtypes (DataFrame columns, or number arrays)."""
    if dtypes is not None:
        return np.array([getattr(d, "kind", "f") in "iu" and not c for d, c in zip(dtypes, categorical)])
    return np.array([isinstance(v[0], Integral) and not c for v, c in zip(columns, categorical)])
