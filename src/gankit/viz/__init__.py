"""Pictures of runs, drawn from what was recorded: losses, scatter plots, GAN Lab's view,
image grids, sweep figures, live plots in notebooks, TensorBoard and the HTML report."""
