"""The pre-training objectives, one module per method (each listed in
:data:`mmfusion.ssl.objective.OBJECTIVE_MODULES`, with its ``PRESETS``)."""
