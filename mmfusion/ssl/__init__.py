"""Self-supervised skeleton pre-training: objectives, their registry and the pre-training engine.

An objective (:class:`~mmfusion.ssl.objective.PretextObjective`) owns an encoder and whatever
the method adds (decoders, projectors, momentum copies, queues) and maps a batch of skeletons
``{"skeleton": (N, C, T, V, M), "index": (N,)}`` to a dict of losses. Objectives register with
:func:`~mmfusion.ssl.objective.register_objective` and are built with
:func:`~mmfusion.ssl.objective.create_objective`.
"""

from .objective import OBJECTIVE_MODULES, PretextObjective, create_objective, list_objectives, register_objective

__all__ = ["OBJECTIVE_MODULES", "PretextObjective", "create_objective", "list_objectives", "register_objective"]
