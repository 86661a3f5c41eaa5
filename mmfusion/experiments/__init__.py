"""Experiments: the engine applied to one data set family (the NTU recipes' shared parts).

Layering: above :mod:`mmfusion.engine` and :mod:`mmfusion.data` (it joins them), below the
scripts in ``recipes/``; the engine itself does not know any data set.
"""

from __future__ import annotations

from .ntu import NTURecipe, datasets, describe, finish, fit, fit_row, print_results, results_table

__all__ = ["NTURecipe", "datasets", "describe", "finish", "fit", "fit_row", "print_results", "results_table"]
