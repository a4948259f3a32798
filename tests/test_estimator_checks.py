"""imbalanced-learn's and scikit-learn's estimator checks on a tiny configuration."""

import pytest
from imblearn.utils.estimator_checks import parametrize_with_checks

from cganbalance import CGANOverSampler

from .conftest import TINY_MLP

# Checks that cannot pass by design, with the reason.
EXPECTED_FAILED = {
    "check_samplers_pandas_sparse": "sparse X is refused with a TypeError: a GAN learns dense features",
}


_CHECKS = parametrize_with_checks(
    [CGANOverSampler(epochs=1, random_state=0, preset_params=TINY_MLP, device="cpu")],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
).mark
# imbalanced-learn hands pytest a generator of checks, which pytest deprecates: make it a list.
_ARGNAMES, _ARGVALUES = _CHECKS.args


@pytest.mark.parametrize(_ARGNAMES, list(_ARGVALUES), **_CHECKS.kwargs)
def test_imblearn_compatible(estimator, check):
    check(estimator)
