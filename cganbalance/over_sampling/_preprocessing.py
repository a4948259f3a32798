"""Preprocessing objects: the user's samples <-> the scaled tensors the networks train on.

Each has ``fit`` / ``transform`` / ``inverse_transform`` and is composed by
:class:`~cganbalance.CGANOverSampler`; each can be tested alone.

- :class:`ImagePreprocessor`: images in any layout -> N×C×H×W floats in ``[-1, 1]``, and
  generated images back to the input's layout, range and dtype.
- :class:`TablePreprocessor`: numeric columns standardised, and generated rows back to the
  observed range, integer columns rounded, the input's dtype.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np

from .._utils.images import ImageLayout, from_unit, to_unit
from ._tabular import check_mixed_table

__all__ = ["ImagePreprocessor", "TablePreprocessor", "check_table", "image_layout"]


def check_table(X, categorical: np.ndarray | None = None) -> None:
    """Clear errors, naming the columns, for tables the networks cannot learn from as they are:
    date/time columns, missing or infinite values; with ``categorical`` (the mask of categorical
    columns, for the ``"tabular"`` recipe) also ID-like text columns and non-numbers in a
    continuous column (see :func:`~cganbalance.over_sampling._tabular.check_mixed_table`).
    Without it, text and categorical columns are refused.

    ``X`` is a pandas DataFrame or a 2-D array (which is only checked for missing and infinite
    values when it is numeric). Nothing is modified.
    """
    dtypes = getattr(X, "dtypes", None)
    if dtypes is not None:
        names = [str(c) for c in X.columns]
        kinds = [getattr(d, "kind", "O") for d in dtypes]
        dates = [n for n, k in zip(names, kinds) if k in "mM"]
        if dates:
            raise ValueError(
                f"Columns {dates} of X hold dates or durations, which CGANOverSampler cannot model. Convert them to "
                "numbers (e.g. days since a reference date) or drop them."
            )
    if categorical is not None:
        if dtypes is not None:
            columns = [X.iloc[:, j].to_numpy() for j in range(X.shape[1])]
        else:
            values = np.asarray(X)
            columns, names = [values[:, j] for j in range(values.shape[1])], [str(j) for j in range(values.shape[1])]
        check_mixed_table(columns, names, categorical)
        return
    if dtypes is not None:
        text = [n for n, k, d in zip(names, kinds, dtypes) if k in "OSUV" or str(d) in ("category", "string", "str")]
        if text:
            raise ValueError(
                f"Columns {text} of X hold text or categories, which `preset='mlp'` cannot model. Use "
                "preset='tabular' (what preset='auto' picks for them) or encode them as numbers first."
            )
        if all(k in "biu" for k in kinds):
            return  # whole numbers and booleans are always finite
        values, columns = X.to_numpy(dtype=np.float64), names
    else:
        values = np.asarray(X)
        if values.ndim != 2 or values.dtype.kind != "f":
            return  # integers are finite; a non-numeric array gets the usual validation's error
        columns = [str(i) for i in range(values.shape[1])]
    advice = {
        "missing (NaN) values": "Impute them (for example with sklearn.impute.SimpleImputer)",
        "infinite values": "Replace them with finite values (or with NaN, then impute)",
    }
    for problem, mask in (("missing (NaN) values", np.isnan(values)), ("infinite values", np.isinf(values))):
        bad = [c for c, flag in zip(columns, mask.any(0)) if flag]
        if bad:
            raise ValueError(
                f"Columns {bad} of X hold {problem}; CGANOverSampler needs finite numbers. {advice[problem]} or "
                "drop those rows or columns first."
            )


def image_layout(sample_shape, image_shape, n_features: int) -> ImageLayout | None:
    """The layout of the samples: from ``X``'s own shape (``sample_shape``, None for 2-D rows)
    or the sampler's ``image_shape`` parameter; None for tabular rows."""
    shape = sample_shape
    if image_shape is not None:
        given = tuple(image_shape)
        if not all(isinstance(s, Integral) and s > 0 for s in given) or len(given) not in (2, 3):
            raise ValueError(
                f"`image_shape` must be (H, W), (H, W, C) or (C, H, W) with positive integers. Got {image_shape!r} instead."
            )
        if shape is not None and tuple(shape) != given:
            raise ValueError(f"`image_shape={given}` does not match the images in X, of shape {tuple(shape)}.")
        if int(np.prod(given)) != n_features:
            raise ValueError(
                f"`image_shape={given}` needs {int(np.prod(given))} values per row, but X has {n_features} columns."
            )
        shape = given
    return ImageLayout(shape) if shape is not None else None


class ImagePreprocessor:
    """Image rows (``N × prod(sample_shape)``) <-> ``N×C×H×W`` float32 in ``[-1, 1]``.

    The value range is 0-255 for uint8 images, ``[0, 1]`` for floats inside it, and the data's
    own minimum and maximum otherwise.

    Parameters
    ----------
    sample_shape : tuple of int
        The shape of one image: ``(H, W)``, ``(H, W, C)`` or ``(C, H, W)`` (channels first when
        the first entry is 1, 3 or 4 and the last is not).
    """

    def __init__(self, sample_shape):
        self.sample_shape = sample_shape
        self.layout = ImageLayout(sample_shape)

    def fit(self, X: np.ndarray) -> "ImagePreprocessor":
        if X.dtype == np.uint8:
            low, high = 0.0, 255.0
        else:
            low, high = float(X.min()), float(X.max())
            if low >= 0 and high <= 1:
                low, high = 0.0, 1.0
            elif high == low:
                high = low + 1.0
        self.range_ = (low, high)
        self.dtype_ = X.dtype
        return self

    @property
    def data_shape(self) -> list[int]:
        """``[C, H, W]``: the shape the networks see."""
        return list(self.layout.chw)

    def transform(self, X: np.ndarray) -> np.ndarray:
        x = self.layout.to_nchw(X)
        return np.ascontiguousarray(to_unit(x.astype(np.float32), *self.range_), dtype=np.float32)

    def inverse_transform(self, samples: np.ndarray) -> np.ndarray:
        """Generated ``N×C×H×W`` samples in ``[-1, 1]`` -> ``N × sample_shape`` in the input's range and dtype."""
        x = self.layout.from_nchw(from_unit(samples.astype(np.float64), *self.range_, clip=True))
        if np.dtype(self.dtype_).kind in "iu":
            x = np.rint(x)
        return x.astype(self.dtype_)


class TablePreprocessor:
    """Numeric table rows <-> standardised float32 rows (zero mean, unit variance per column).

    Parameters
    ----------
    integer_columns : array of bool or None
        Columns whose generated values are rounded to whole numbers (integer and boolean
        DataFrame columns).
    """

    def __init__(self, integer_columns: np.ndarray | None = None):
        self.integer_columns = integer_columns

    def fit(self, X: np.ndarray) -> "TablePreprocessor":
        Xf = X.astype(np.float64)
        self.mean_, std = Xf.mean(0), Xf.std(0)
        std[std == 0] = 1.0
        self.std_ = std
        self.min_, self.max_ = Xf.min(0), Xf.max(0)
        self.dtype_ = X.dtype
        return self

    @property
    def data_shape(self) -> list[int]:
        """``[n_features]``: the shape the networks see."""
        return [len(self.mean_)]

    def transform(self, X: np.ndarray) -> np.ndarray:
        return ((X.astype(np.float64) - self.mean_) / self.std_).astype(np.float32)

    def inverse_transform(self, samples: np.ndarray) -> np.ndarray:
        """Generated standardised rows -> rows in the observed range of each column and the input's dtype."""
        x = np.clip(samples.astype(np.float64) * self.std_ + self.mean_, self.min_, self.max_)
        if self.integer_columns is not None:
            x[:, self.integer_columns] = np.rint(x[:, self.integer_columns])
        if np.dtype(self.dtype_).kind in "iu":
            x = np.rint(x)
        return x.astype(self.dtype_)
