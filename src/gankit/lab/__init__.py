"""The live browser lab (``gankit lab``): choose a problem, watch a GAN train, save it as a run.

- `gankit.lab.problem`: the page's settings, checked into a `Config`; drawn and dropped point files;
- `gankit.lab.session`: the training session, gankit's engines in a thread of their own;
- `gankit.lab.stepping`: one unit of training (fast-path epochs, or general-loop steps);
- `gankit.lab.views`: what a frame shows (D's surface, the pull, the manifold, the Gaussian gap);
- `gankit.lab.livetest`: a two-sample p-value every few epochs, off the hot path;
- `gankit.lab.record`: bounded snapshots, and "save as run";
- `gankit.lab.server`: the local web server (token, host and origin checks) and its page in ``static/``.

Nothing here is imported by the rest of gankit; the server needs the ``lab`` extra.
"""
