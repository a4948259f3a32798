"""``CGANOverSampler``: an imbalanced-learn over-sampler that trains a conditional GAN."""

from __future__ import annotations

from functools import partial
import os
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import torch
from imblearn.over_sampling.base import BaseOverSampler
from imblearn.utils import Substitution, check_target_type
from imblearn.utils._docstring import _random_state_docstring
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from sklearn_compat.utils.validation import validate_data

from .._utils.devices import device_available, resolve_device
from .._utils.labels import name_index, plain
from .._utils.random import make_rng, numpy_rng
from ..hub import push_to_hub, save_generator
from ..nets import MAX_LATENT_SCALE, Generator, check_latent_scale
from ..nets.serialization import PickledModule
from ..training.presets import build_networks, discriminator_for, epochs_for
from ..training import CHECKPOINT_NAME, CGANTrainer
from ._filtering import class_filter, generate_filtered
from ._plan import (
    DISTINGUISHABLE_AUC,
    DISTINGUISHABLE_RATIO,
    IMAGE_SYNTHETIC_RATIO,
    MIN_ROWS_FOR_TWO_SAMPLE_TEST,
    check_output_size,
    split_top_up,
    top_up_plan,
    two_sample_auc,
)
from ._preprocessing import ImagePreprocessor, TablePreprocessor, check_table, image_layout
from ._pretrained import pretrained_discriminator, pretrained_for
from ._tabular import MixedTablePreprocessor, integer_like, table_categorical

#: Fitted attributes holding networks that :class:`PickledModule` stores as arguments + weights.
_FITTED_NETWORKS = ("generator_", "discriminator_")

__all__ = ["CGANOverSampler"]


@Substitution(
    sampling_strategy=BaseOverSampler._sampling_strategy_docstring,
    random_state=_random_state_docstring,
)
class CGANOverSampler(BaseOverSampler):
    """Over-sample minority classes with a conditional GAN trained on the data.

    ``fit_resample`` trains a class-conditional generator on all of ``X`` (every class helps it
    learn what the data looks like), draws candidates for the classes that
    ``sampling_strategy`` tops up, keeps those its discriminator finds most convincing, and
    returns the original samples followed by the new ones (for each class, its synthetic
    samples, then any copies of real ones that ``max_synthetic_ratio`` or ``extra_synthetic`` call for).

    Parameters
    ----------
    {sampling_strategy}

    {random_state}

    preset : {{"auto", "default", "paper", "mlp", "tabular"}}, default="auto"
        Architecture and training recipe. ``"auto"`` uses ``"default"`` for images and
        ``"tabular"`` for tables (numeric or mixed: continuous columns quantile-normalised,
        categorical ones as one-hot blocks). ``"paper"`` is the reference FER-2013 design
        (64×64, exact layers); ``"mlp"`` is the older recipe for all-numeric tables (columns
        standardised), which ``"auto"`` picked for them earlier and which did worse on every
        validation table; see :mod:`cganbalance.training.presets`.

    categorical_features : "auto" or array-like, default="auto"
        Which columns of a table are categorical, as for
        :class:`~imblearn.over_sampling.SMOTENC`: column indices, column names (DataFrames) or
        a boolean mask. ``"auto"``: a DataFrame's ``object``, ``string``, ``category`` and
        ``bool`` columns; none for a NumPy array (a NumPy object array must name them).
        Categorical columns are generated as categories seen in the data (one-hot blocks that
        the generator makes exactly one-hot), never as numbers to round; output columns keep
        their dtypes (a ``category`` column its categories and their order). Tables with
        categorical columns train the ``"tabular"`` preset.

    image_shape : tuple of int, default=None
        Read each row of a 2-D ``X`` as an image of this shape: ``(H, W)``, ``(H, W, C)`` or
        ``(C, H, W)``. Not needed when ``X`` is already ``N×H×W``, ``N×H×W×C`` or
        ``N×C×H×W``. A 3-D shape is channels-first when its first entry is 1, 3 or 4 and its
        last is not.

    epochs : int, default=None
        Training epochs. ``None`` uses the preset's budget (about 10,000 generator steps for
        ``"default"``; for tables 1,500 (``"mlp"``) or 2,000 (``"tabular"``) steps but at most
        60 epochs, so that small tables train briefly; 300 epochs for ``"paper"``), unless
        ``max_time`` is given, in which case training runs for ``max_time`` seconds.

    max_time : float, default=None
        Wall-clock limit for training in seconds; training stops after the step that crosses it.

    batch_size : int, default=None
        Training batch size; ``None`` uses the preset's (64 for images, 128 for tabular).

    filter_keep : float, None or "auto", default="auto"
        Fraction of generated candidates kept after ranking them by discriminator confidence
        (the reference paper's filtering step) and/or by ``filter_classifier``: ``1 /
        filter_keep`` candidates are drawn for every sample returned. ``None`` or ``1.0`` turns
        filtering off. ``"auto"``: 0.5, but no filtering for the ``"tabular"`` preset without a
        ``filter_classifier`` (on tables, keeping the rows the discriminator likes best skewed
        the generated columns away from the real ones: see the tabular guide). A pretrained
        generator's candidates are ranked by the discriminator saved with it when its folder
        holds one (``discriminator.safetensors``, as :meth:`save_generator` and ``cganbalance
        train`` write it; the shipped ``fer2013-cgan`` does), else only by a ``filter_classifier``.

    filter_classifier : "fer2013", path, classifier or None, default=None
        Also rank candidates by a classifier's probability of the intended class, so that
        samples that look like another class (label noise for the model trained downstream)
        are dropped. ``"fer2013"`` uses the FER-2013 classifier shipped with cganbalance (for
        48×48 grey faces, labels matched by emotion name or index), a folder one saved by
        :func:`cganbalance.classifier.save_classifier` (for instance one trained without your
        validation faces, so that a choice made on them stays honest); any fitted scikit-learn
        style classifier with ``predict_proba`` and ``classes_`` is given candidates in the
        layout and units of ``X``. With a discriminator the score is the product of both. It
        filters a pretrained generator too, with or without a discriminator. Needs ``filter_keep``.
        In a Pipeline or cross-validation, wrap a fitted classifier in
        :class:`sklearn.frozen.FrozenEstimator` (scikit-learn ≥ 1.6): ``clone`` would otherwise
        unfit it.

    max_synthetic_ratio : float, None or "auto", default="auto"
        At most this many synthetic samples per real sample of a class (``floor(ratio ×
        n_real)``); the rest of the class's target from ``sampling_strategy`` is made of random
        copies of its real samples, as :class:`~imblearn.over_sampling.RandomOverSampler` does.
        A cap keeps a rare class anchored in real data when its generated samples are less
        varied than real ones. ``None`` makes every new sample synthetic. ``"auto"``: for
        tables, a ratio that grows with the class, ``n_real / 10`` (a class of 30 rows gets at
        most 3 synthetic rows per real one, a class of 300 rows at most 30: a generator learns
        little from a few dozen rows, and on the validation tables a synthetic-only top-up of
        a 28-row class lost 0.05 balanced accuracy to this mix), lowered to 1 after training
        for a class of 20 rows or more whose generated rows a logistic regression tells from
        its real ones with a cross-validated ROC AUC above 0.6 (``synthetic_auc_``): on the
        validation tables where generated rows were that easy to spot, a top-up made mostly of
        them cost a linear model 0.02 to 0.11 balanced accuracy against random over-sampling,
        and this cap brought it level (the tabular guide, "What was measured"); 0.5 for images (on the FER-2013
        validation split, with the shipped ``fer2013-cgan``, a synthetic-only top-up gave a
        classifier macro-F1 0.477 and balanced accuracy 0.478, below no resampling at all, and
        this mix 0.504 and 0.558: a classifier that can tell generated faces from real ones
        learns "rare class looks generated" from a synthetic-only top-up); ``None`` with
        ``extra_synthetic``.

    extra_synthetic : int, float or None, default=None
        Balance with copies, then add synthetic samples to every class. The top-up that
        ``sampling_strategy`` asks for is made of random copies of real samples, as
        :class:`~imblearn.over_sampling.RandomOverSampler` makes it, and then every class
        (also ones ``sampling_strategy`` leaves alone) gets the same number of synthetic
        samples: this many (an int), or this fraction of the largest class after the top-up
        (a float). Every class then holds as many real-looking samples as the others and as
        many generated ones, so a classifier that can tell generated samples from real ones
        cannot use that as a clue to the class. With a synthetic-only top-up it can: real
        samples of a rare class are then rare among the real-looking ones, and on real test
        data such a classifier predicts as if nothing had been over-sampled. Not combined with a
        ``max_synthetic_ratio`` other than ``"auto"``.

    latent_scale : float, default=1.0
        Standard deviation of the noise the generator samples from, in ``(0, 10]`` (it was
        trained with 1). Above 1 spreads the synthetic samples wider: more varied, less typical
        of their class; below 1 narrows them, like the truncation trick. Training is
        unaffected. Filtering (``filter_keep``) ranks the candidates afterwards and tends to
        drop the least typical ones, so it partly undoes a scale above 1. On FER-2013 a scale
        of 1.5 improved the generated faces' FID and recall but not the classifier trained on
        them; see the images guide, section "Spread of the samples".

    generator : str, path or :class:`~cganbalance.nets.Generator`, default=None
        A pretrained generator to use instead of training one: an alias such as
        ``"fer2013-cgan"``, a local directory, a Hub repo id, or a generator object. Its class
        names must cover the labels in ``y`` (matched by name, or by index for integer labels).

    fine_tune : bool, default=False
        With ``generator``, train it further on ``X`` instead of sampling from it as it is:
        against the discriminator saved with it when its folder holds one (a copy loaded from
        the folder, which is left as it is), else against a fresh one. The optimisers start
        afresh either way.

    device : str, default="auto"
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.

    preset_params : dict, default=None
        Overrides of the preset's settings, with keys ``"generator"``, ``"discriminator"`` and
        ``"train"`` (for example ``{{"train": {{"lr_g": 1e-4}}}}``).

    checkpoint_dir : str or path, default=None
        Write a checkpoint (networks, weight average, optimisers, random state, epoch, history)
        to ``checkpoint_dir/checkpoint.safetensors`` after every epoch, atomically.

    resume : bool, default=False
        Continue from the checkpoint in ``checkpoint_dir`` if there is one. A resumed run gives
        the same result as an uninterrupted one on the CPU for the same ``random_state``.

    on_divergence : {{"raise", "rollback"}}, default="raise"
        What to do when training diverges (a non-finite loss, or a discriminator that tells
        real from generated samples perfectly for a whole epoch): raise
        :class:`~cganbalance.TrainingDivergedError`, or restore the last checkpoint in
        ``checkpoint_dir`` and stop training there with a warning.

    callbacks : list of callable or Callback, default=None
        Each callable is called as ``callback(trainer)`` after every epoch (for sample grids,
        logging); :class:`~cganbalance.training.Callback` objects hear every event of the
        training loop (steps, epochs, the start and the end).

    verbose : bool, default=False
        Show a progress bar with the discriminator and generator losses (redrawn in place in a
        terminal or notebook; a line every 30 s when stderr is a log file or a pipe).

    Attributes
    ----------
    sampling_strategy_ : dict
        Number of new samples for each class topped up (synthetic, plus copies of real ones
        with ``max_synthetic_ratio``; all copies with ``extra_synthetic``, whose synthetic
        samples come on top).

    classes_ : ndarray
        Class labels seen in ``fit_resample``, in sorted order (index = generator label).

    generator_ : Generator
        The trained generator (the weight average when the preset uses one).

    discriminator_ : Discriminator or None
        The trained discriminator (``None`` for a pretrained generator used as it is).

    history_ : list of dict
        One record per epoch: ``epoch``, ``steps``, ``d_loss``, ``g_loss``, ``d_real`` and
        ``d_fake`` (mean discriminator probabilities), ``seconds``, ``complete``.

    n_generated_ : dict
        Number of synthetic samples returned for each class label.

    n_copied_ : dict
        Number of copies of real samples returned for each class label (non-zero only with
        ``max_synthetic_ratio`` or ``extra_synthetic``).

    synthetic_auc_ : dict
        Tables with ``max_synthetic_ratio="auto"``, after ``fit_resample``: for each topped-up
        class of at least 20 rows, how well a logistic regression tells its generated rows from
        its real ones (cross-validated ROC AUC; 0.5 = not at all), which set its synthetic share.
        Empty otherwise (and after ``fit``, which generates nothing).

    device_ : torch.device
        The device training and sampling ran on.

    preprocessor_ : ImagePreprocessor, TablePreprocessor or MixedTablePreprocessor
        What maps ``X`` to the scaled samples the networks train on and generated samples back
        (``transform`` / ``inverse_transform``), fitted on ``X``.

    n_features_in_ : int
        Number of features (pixels × channels for images).

    Examples
    --------
    >>> from collections import Counter
    >>> from sklearn.datasets import make_classification
    >>> from cganbalance import CGANOverSampler
    >>> X, y = make_classification(n_samples=300, weights=[0.9, 0.1], random_state=0)
    >>> sampler = CGANOverSampler(epochs=2, random_state=0)
    >>> X_res, y_res = sampler.fit_resample(X, y)
    >>> sorted(Counter(y_res).items())
    [(0, 268), (1, 268)]
    """

    _parameter_constraints: dict = {
        **BaseOverSampler._parameter_constraints,
        "preset": [StrOptions({"auto", "default", "paper", "mlp", "tabular"})],
        "categorical_features": ["array-like", StrOptions({"auto"})],
        "image_shape": [tuple, list, None],
        "epochs": [Interval(Integral, 1, None, closed="left"), None],
        "max_time": [Interval(Real, 0, None, closed="neither"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "filter_keep": [Interval(Real, 0, 1, closed="right"), None, StrOptions({"auto"})],
        "filter_classifier": [str, os.PathLike, HasMethods(["predict_proba"]), None],  # str: checked in fit
        "max_synthetic_ratio": [Interval(Real, 0, None, closed="left"), None, StrOptions({"auto"})],
        "extra_synthetic": [Interval(Integral, 0, None, closed="left"), Interval(Real, 0, None, closed="neither"), None],
        "latent_scale": [Interval(Real, 0, MAX_LATENT_SCALE, closed="right")],
        "generator": [str, os.PathLike, Generator, None],
        "fine_tune": ["boolean"],
        "device": [str, torch.device],
        "preset_params": [dict, None],
        "checkpoint_dir": [str, os.PathLike, None],
        "resume": ["boolean"],
        "on_divergence": [StrOptions({"raise", "rollback"})],
        "callbacks": [list, tuple, None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        sampling_strategy="auto",
        random_state=None,
        preset="auto",
        categorical_features="auto",
        image_shape=None,
        epochs=None,
        max_time=None,
        batch_size=None,
        filter_keep="auto",
        filter_classifier=None,
        max_synthetic_ratio="auto",
        extra_synthetic=None,
        latent_scale=1.0,
        generator=None,
        fine_tune=False,
        device="auto",
        preset_params=None,
        checkpoint_dir=None,
        resume=False,
        on_divergence="raise",
        callbacks=None,
        verbose=False,
    ):
        super().__init__(sampling_strategy=sampling_strategy)
        self.random_state = random_state
        self.preset = preset
        self.categorical_features = categorical_features
        self.image_shape = image_shape
        self.epochs = epochs
        self.max_time = max_time
        self.batch_size = batch_size
        self.filter_keep = filter_keep
        self.filter_classifier = filter_classifier
        self.max_synthetic_ratio = max_synthetic_ratio
        self.extra_synthetic = extra_synthetic
        self.latent_scale = latent_scale
        self.generator = generator
        self.fine_tune = fine_tune
        self.device = device
        self.preset_params = preset_params
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume
        self.on_divergence = on_divergence
        self.callbacks = callbacks
        self.verbose = verbose

    # -- input handling ------------------------------------------------------------------------
    def _check_X_y(self, X, y):
        y, binarize_y = check_target_type(y, indicate_one_vs_all=True)
        sample_shape = None
        is_nested_list = isinstance(X, (list, tuple))
        is_tensor = type(X).__module__.startswith("torch")
        if is_nested_list or is_tensor:
            X = np.asarray(X)  # nested lists and tensors: read as arrays, so images keep their shape
        if getattr(X, "ndim", 2) == 1:
            raise ValueError(
                f"`X` must be 2-D rows or an N×H×W, N×H×W×C or N×C×H×W array. Got a 1-D array of shape {X.shape}; "
                "use X.reshape(-1, 1) for a single feature."
            )
        if isinstance(X, np.ndarray) and X.ndim in (3, 4):
            sample_shape = X.shape[1:]
            X = X.reshape(len(X), -1)
        elif hasattr(X, "ndim") and getattr(X, "ndim", 2) > 4:
            raise ValueError(f"`X` must be 2-D rows or an N×H×W, N×H×W×C or N×C×H×W array. Got {X.ndim} dimensions.")
        self._sample_shape = sample_shape
        self._categorical = self._integer_columns = self._dtypes = None
        if sample_shape is None and self.image_shape is None:
            self._categorical = table_categorical(X, self.preset, self.categorical_features)
        if self._categorical is not None:
            return (*self._check_mixed_table(X, y), binarize_y)
        if sample_shape is None and self.image_shape is None:
            check_table(X)
        dtypes = getattr(X, "dtypes", None)  # a DataFrame's columns keep their own dtypes on output
        X, y = validate_data(self, X=X, y=y, reset=True, accept_sparse=False, dtype="numeric")
        if dtypes is not None and sample_shape is None:
            self._integer_columns = np.array([getattr(d, "kind", "f") in "iub" for d in dtypes])
        return X, y, binarize_y

    def _check_mixed_table(self, X, y):
        """Check a mixed table column by column (errors name the column), then validate it as SMOTENC does."""
        dtypes = getattr(X, "dtypes", None)
        check_table(X, self._categorical)
        X, y = validate_data(self, X=X, y=y, reset=True, accept_sparse=False, dtype=None, ensure_all_finite=False)
        columns = [X[:, j] for j in range(X.shape[1])]
        self._integer_columns = integer_like(columns, self._categorical, dtypes)
        self._dtypes = dtypes
        return X, y

    # -- the work ------------------------------------------------------------------------------
    def fit(self, X, y):
        """Train the generator on ``X, y`` without returning samples.

        Afterwards :meth:`sample` draws any number of samples per class, and
        :meth:`save_generator` saves the generator. ``fit_resample`` does the same training and
        also returns the resampled data set.

        Returns
        -------
        self : CGANOverSampler
        """
        self._validate_params()
        X, y, _ = self._check_X_y(X, y)
        from imblearn.utils import check_sampling_strategy

        self.sampling_strategy_ = check_sampling_strategy(self.sampling_strategy, y, self._sampling_type)
        self._fit_generator(X, y)
        return self

    def _fit_generator(self, X, y) -> torch.Generator:
        """Validate, scale, and train (or load) the generator; returns the RNG for sampling."""
        check_latent_scale(self.latent_scale)  # bools pass sklearn's Interval; fail before training
        layout = image_layout(self._sample_shape, self.image_shape, X.shape[1])
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        name_index([str(c) for c in self.classes_], "labels in y")  # they become the generator's class names
        counts = np.bincount(y_idx, minlength=len(self.classes_))
        self.synthetic_auc_ = {}  # filled by fit_resample (tables, max_synthetic_ratio="auto")
        self._plan = top_up_plan(self.sampling_strategy_, self.classes_, counts, X, extra_synthetic=self.extra_synthetic,
                                 max_synthetic_ratio=self._max_synthetic_ratio(layout))
        if self.resume and self.checkpoint_dir is None:
            raise ValueError("`resume=True` needs `checkpoint_dir`, the folder to resume from.")
        self.device_ = resolve_device(self.device)
        rng = make_rng(self.random_state)
        if layout is not None:
            preprocessor = ImagePreprocessor(layout.sample_shape)
        elif self._categorical is not None:
            preprocessor = MixedTablePreprocessor(self._categorical, self._integer_columns)
        elif self._table_preset() == "tabular":  # an all-numeric table: quantile-normalised columns
            preprocessor = MixedTablePreprocessor(np.zeros(X.shape[1], dtype=bool), self._integer_columns)
        else:
            preprocessor = TablePreprocessor(self._integer_columns)
        self.preprocessor_ = preprocessor.fit(X)
        data = self.preprocessor_.transform(X)
        self._class_filter = class_filter(
            self.filter_classifier, self._filter_keep(), self.classes_, layout, self.preprocessor_, self.device_,
            sample_shape=self._sample_shape, feature_names=getattr(self, "feature_names_in_", None),
            dtypes=self._dtypes,
        )
        if self.generator is not None:
            self._use_pretrained(data, y_idx, rng)
        else:
            self._build_and_train(data, y_idx, rng, layout)
        return rng

    def _max_synthetic_ratio(self, layout):
        """``max_synthetic_ratio`` with ``"auto"`` resolved: ``"rows"`` (``n_real / 10``) for tables,
        ``IMAGE_SYNTHETIC_RATIO`` for images, ``None`` with ``extra_synthetic``."""
        if self.max_synthetic_ratio != "auto":
            return self.max_synthetic_ratio
        if self.extra_synthetic is not None:
            return None
        return "rows" if layout is None else IMAGE_SYNTHETIC_RATIO

    def _table_preset(self) -> str:
        """The preset a table trains: ``"tabular"`` for ``"auto"``, and for any table with categorical columns."""
        if self._categorical is not None or self.preset == "auto":
            return "tabular"
        return self.preset

    @property
    def _is_table(self) -> bool:
        """Whether the data being fitted is a table (rows, not images)."""
        return self._sample_shape is None and self.image_shape is None

    def _filter_keep(self) -> float | None:
        """``filter_keep`` with ``"auto"`` resolved: no filtering for the ``"tabular"`` recipe
        (unless a ``filter_classifier`` asks for it), 0.5 otherwise."""
        if self.filter_keep != "auto":
            return self.filter_keep
        tabular = self._is_table and self._table_preset() == "tabular"
        return None if tabular and self.filter_classifier is None else 0.5

    def _fit_resample(self, X, y):
        rng = self._fit_generator(X, y)
        if self._is_table and self._max_synthetic_ratio(None) == "rows":
            self._cap_distinguishable(X, y, rng)
        copy_rng = None
        X_new, y_new = [X], [y]
        self.n_generated_, self.n_copied_ = {}, {}
        for label, (n_synthetic, n_copies) in self._plan.items():
            self.n_generated_[label], self.n_copied_[label] = n_synthetic, n_copies
            if n_synthetic:
                samples = self._generate_filtered(int(np.searchsorted(self.classes_, label)), n_synthetic, rng)
                X_new.append(self.preprocessor_.inverse_transform(samples).reshape(n_synthetic, -1))
                y_new.append(np.full(n_synthetic, label, dtype=y.dtype))
            if n_copies:
                if copy_rng is None:  # seeded from the same stream, so random_state fixes the copies too
                    copy_rng = numpy_rng(rng)
                picked = copy_rng.choice(np.flatnonzero(y == label), size=n_copies, replace=True)
                X_new.append(X[picked])
                y_new.append(y[picked])
        X_res = np.concatenate(X_new).astype(X.dtype, copy=False)
        y_res = np.concatenate(y_new)
        if self._sample_shape is not None:
            X_res = X_res.reshape(len(X_res), *self._sample_shape)
        return X_res, y_res

    def _cap_distinguishable(self, X, y, rng: torch.Generator) -> None:
        """``max_synthetic_ratio="auto"`` on a table: test each topped-up class's generated rows
        against its real ones (``synthetic_auc_``) and cap the synthetic share of a class whose
        rows are easy to tell apart (``_plan.DISTINGUISHABLE_AUC``)."""
        test_rng = numpy_rng(rng)
        for label, (n_synthetic, n_copies) in list(self._plan.items()):
            rows = np.flatnonzero(y == label)
            n_real = len(rows)
            if not n_synthetic or n_real < MIN_ROWS_FOR_TWO_SAMPLE_TEST:
                continue
            rows = test_rng.choice(rows, size=min(n_real, 2000), replace=False)
            real = self.preprocessor_.transform(X[rows])
            generated = self._generate_filtered(int(np.searchsorted(self.classes_, label)), len(rows), rng)
            auc = two_sample_auc(real, generated.reshape(len(rows), -1), seed=int(test_rng.randint(2**31 - 1)))
            self.synthetic_auc_[label] = auc
            if auc > DISTINGUISHABLE_AUC:
                self._plan[label] = split_top_up(n_synthetic + n_copies, n_real, DISTINGUISHABLE_RATIO)

    def _build_and_train(self, data, y_idx, rng, layout) -> None:
        preset = self._table_preset() if layout is None else ("default" if self.preset == "auto" else self.preset)
        overrides = dict(self.preset_params or {})
        if self.batch_size is not None:
            overrides.setdefault("train", {})
            overrides["train"] = {**overrides["train"], "batch_size": self.batch_size}
        g, d, config = build_networks(
            preset,
            n_classes=len(self.classes_),
            data_shape=data.shape[1:],
            classes=[str(c) for c in self.classes_],
            value_range=list(self.preprocessor_.range_) if layout is not None else None,
            rng=rng,
            overrides=overrides,
            blocks=getattr(self.preprocessor_, "blocks_", None),
        )
        self.preset_ = preset
        self._generator_labels = np.arange(len(self.classes_))
        self._train_networks(g, d, config, data, y_idx, rng)

    def _train_networks(self, g, d, config, data, y_idx, rng) -> None:
        trainer = CGANTrainer(g, d, config, self.device_, rng)
        if self.resume and (Path(self.checkpoint_dir) / CHECKPOINT_NAME).is_file():
            trainer.load_checkpoint(self.checkpoint_dir)
        if self.epochs is not None:
            epochs = self.epochs
        elif self.max_time is not None:
            epochs = None  # the time limit ends training
        else:
            epochs = epochs_for(config, len(data))
        trainer.fit(
            torch.from_numpy(data),
            torch.from_numpy(y_idx.astype(np.int64)),
            epochs=epochs,
            max_time=self.max_time,
            verbose=bool(self.verbose),
            checkpoint_dir=self.checkpoint_dir,
            on_divergence=self.on_divergence,
            callbacks=list(self.callbacks or ()),
        )
        self.device_ = trainer.device  # under torchrun, the process's own GPU
        self.generator_ = trainer.sampling_generator
        self.discriminator_ = trainer.discriminator
        self.history_ = trainer.history

    def _use_pretrained(self, data, y_idx, rng) -> None:
        g, self._generator_labels = pretrained_for(self.generator, self.classes_, data.shape[1:], self.device_)
        self.preset_ = None
        self.history_ = []
        self.discriminator_ = pretrained_discriminator(self.generator, g, self.device_)
        self.generator_ = g
        if not self.fine_tune:
            return
        train = dict((self.preset_params or {}).get("train", {}))
        if self.batch_size is not None:
            train["batch_size"] = self.batch_size
        # Built (and its weights drawn from rng) even when the saved one replaces it, so that the
        # random stream, and so the fine-tuned result, is the same with and without a saved one.
        d, config = discriminator_for(g, rng, {"train": train})
        if self.discriminator_ is not None:  # both networks go on from where they were (a loaded copy)
            d = self.discriminator_.train()
        self._train_networks(g, d, config, data, self._generator_labels[y_idx], rng)

    # -- sampling ------------------------------------------------------------------------------
    @torch.inference_mode()
    def _generate_filtered(self, cls_pos: int, n: int, rng: torch.Generator) -> np.ndarray:
        """``n`` scaled samples of class ``classes_[cls_pos]``, filtered by the discriminator and/or classifier."""
        class_scores = getattr(self, "_class_filter", None)
        scorer = partial(class_scores, cls_pos=cls_pos) if class_scores is not None else None
        can_rank = self.discriminator_ is not None or scorer is not None
        keep = self._filter_keep()
        return generate_filtered(
            self.generator_,
            self.discriminator_,
            int(self._generator_labels[cls_pos]),
            n,
            rng,
            keep=keep if (keep is not None and can_rank) else 1.0,
            latent_scale=check_latent_scale(self.latent_scale),  # may be set after fit
            scorer=scorer,
            device=self.device_,
        )

    def sample(self, n_samples, random_state=None):
        """Draw new synthetic samples from the fitted generator, without retraining.

        Parameters
        ----------
        n_samples : dict
            ``{class_label: count}``.
        random_state : int, RandomState or None
            Seed for the draw.

        Returns
        -------
        X_new : ndarray
            Samples in the layout and dtype of the ``X`` given to ``fit_resample``.
        y_new : ndarray
            Their labels.
        """
        check_is_fitted(self, "generator_")
        if not isinstance(n_samples, dict):
            raise TypeError(f"`n_samples` must be a dict {{class_label: count}}. Got {type(n_samples).__name__} instead.")
        for label, n in n_samples.items():
            if not isinstance(n, Integral) or n < 0:
                raise ValueError(f"`n_samples[{plain(label)!r}]` must be a non-negative integer. Got {n!r} instead.")
        check_output_size(sum(n_samples.values()), np.empty((0, self.n_features_in_), self.preprocessor_.dtype_), "n_samples")
        rng = make_rng(random_state)
        X_new, y_new = [], []
        for label, n in n_samples.items():
            pos = np.searchsorted(self.classes_, label)
            if pos >= len(self.classes_) or self.classes_[pos] != label:
                raise ValueError(
                    f"`n_samples` has label {plain(label)!r}, which was not seen in fit; "
                    f"known labels are {[plain(c) for c in self.classes_]}."
                )
            x = self.preprocessor_.inverse_transform(self._generate_filtered(int(pos), int(n), rng)) if n else None
            if x is not None:
                X_new.append(x.reshape(int(n), -1))
                y_new.append(np.full(int(n), label, dtype=self.classes_.dtype))
        width = int(self.n_features_in_)
        X_out = np.concatenate(X_new) if X_new else np.empty((0, width), dtype=self.preprocessor_.dtype_)
        y_out = np.concatenate(y_new) if y_new else np.empty(0, dtype=self.classes_.dtype)
        if self._sample_shape is not None:
            X_out = X_out.reshape(len(X_out), *self._sample_shape)
        return X_out, y_out

    def save_generator(self, save_directory) -> Path:
        """Save the fitted generator as ``config.json`` + ``model.safetensors`` (+ model card), and
        its discriminator beside it when there is one (``discriminator.json`` +
        ``discriminator.safetensors``), so that ``generator=save_directory`` filters as this sampler does.

        Returns the folder (a :class:`pathlib.Path`).
        """
        check_is_fitted(self, "generator_")
        return save_generator(self.generator_, save_directory, discriminator=self.discriminator_, history=self.history_)

    def push_to_hub(self, repo_id: str, **kwargs):
        """Push the fitted generator (and its discriminator, as :meth:`save_generator` saves it) to
        the Hugging Face Hub (see :func:`cganbalance.hub.push_to_hub`)."""
        check_is_fitted(self, "generator_")
        kwargs.setdefault("discriminator", self.discriminator_)
        return push_to_hub(self.generator_, repo_id, history=self.history_, **kwargs)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        tags.non_deterministic = False
        return tags

    # -- pickling ------------------------------------------------------------------------------
    def __getstate__(self):
        """Networks are pickled as their constructor arguments and weights (numpy arrays).

        Spectral-norm parametrizations cannot be pickled as modules, and a module pickle ties the
        file to this version of the code's classes; arguments + weights do neither. This is what
        ``joblib.dump`` / ``pickle`` of a fitted pipeline use; for sharing a generator, prefer
        :meth:`save_generator` (safetensors + JSON).
        """
        state = super().__getstate__()
        # Only the networks the sampler made or loaded itself; objects the user passed in as
        # parameters pickle as the user's objects do.
        return {k: PickledModule(v) if k in _FITTED_NETWORKS and isinstance(v, torch.nn.Module) else v for k, v in state.items()}

    def __setstate__(self, state):
        device = state.get("device_")
        if device is not None and not device_available(device):
            import warnings

            warnings.warn(
                f"This sampler was fitted on {device}, which this machine does not have; its networks are loaded on the CPU.",
                RuntimeWarning,
                stacklevel=2,
            )
            state["device_"] = device = torch.device("cpu")
        state = {k: v.build(device) if isinstance(v, PickledModule) else v for k, v in state.items()}
        if state.get("_class_filter") is not None:
            state["_class_filter"].to(device)
        super().__setstate__(state)

