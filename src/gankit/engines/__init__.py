"""Training engines: what turns a config and data into trained networks.

- `state`: what every engine shares (`TrainState`, `Callback`, the epoch's `RunningSums`, the history row);
- `training`: `train` and `build_state`, which pick an engine and hand it the state;
- `general`: the eager-autograd loop (any model, objective, penalty; torchrun);
- `fast` and `ensemble`: the chapter's step by hand in NumPy over R runs at once;
  `bridge` copies networks and Adam state between torch and those arrays;
- `sweep`: many runs over seeds and grids, and `train_many` for any list of configs;
- `guard`: the one divergence rule and stopping on signals; `distributed`: torchrun;
- `objectives`: the losses of D and G (and the equilibrium a health check compares with).
"""
