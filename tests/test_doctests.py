"""The `>>>` examples in the public API's docstrings run and print what they say (doctest).

Each object below must carry an example: a docstring that loses its example fails here, as does one
whose output changed. Outputs are chosen to be the same on every CPU (exactly rounded yardsticks,
shapes, names, p-values that no permutation reaches), not one machine's last digits."""

from __future__ import annotations

import doctest
import importlib

import pytest

PUBLIC = ["gankit.config.Config", "gankit.engines.training.train", "gankit.runs.experiment.run_experiment",
          "gankit.metrics.gaussian.frechet_distance", "gankit.metrics.gaussian.kl_gaussians",
          "gankit.metrics.gaussian.gaussian_fit", "gankit.metrics.twosample.mmd_test",
          "gankit.metrics.twosample.energy_test", "gankit.metrics.twosample.classifier_test",
          "gankit.data.points.load_points", "gankit.data.make_dataset"]
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _find(dotted: str):
    module, name = dotted.rsplit(".", 1)
    module = importlib.import_module(module)
    return module, getattr(module, name)


@pytest.mark.parametrize("dotted", PUBLIC)
def test_the_docstring_example_runs(dotted):
    module, obj = _find(dotted)
    tests = [t for t in doctest.DocTestFinder(recurse=False).find(obj, dotted, module=module,
                                                                     globs=vars(module).copy()) if t.examples]
    assert tests, f"{dotted} has no >>> example"
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in tests:
        runner.run(test)
    assert runner.failures == 0, f"{dotted}: {runner.failures} of {runner.tries} examples failed (output above)"


def test_a_wrong_example_fails():
    """The negative control: the same machinery reports an example whose output is not what it prints."""
    parser = doctest.DocTestParser()
    test = parser.get_doctest(">>> 1 + 1\n3\n", {}, "control", None, 0)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    runner.run(test, out=lambda _: None)
    assert (runner.failures, runner.tries) == (1, 1)
