"""A run, end to end, and what uses it after: training it into its directory, recording it, resuming it.

- `experiment`: one run end to end (`run_experiment`, `resume_experiment`);
- `callbacks` and `health`: what records a run while it trains;
- `checkpoint`: exact checkpoints and resume;
- `sweep`: a sweep's directory, rows and figures;
- `sample` and `export`: a saved run's generator, without the training process.

The run directory's files themselves (atomic writes, weights, config, metrics)
are `gankit.files`.
"""
