"""Metrics, each a pure function of samples or a saved run's numbers.

- `gaussian`: closed-form Fréchet distance and KL between Gaussians, the generator's Gaussian;
- `twosample`: MMD, energy, classifier and discriminator two-sample tests;
- `modes`: mode coverage of mixture targets;
- `features` and `images`: feature-space FD, KID, precision and recall of image runs;
- `summary`: the numbers a run's ``summary.json`` reports;
- `evaluate` and `compare`: ``gankit eval`` (a saved run against fresh real data) and ``gankit twosample``.
"""
