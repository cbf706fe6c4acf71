"""gankit lab: frames per second delivered to a client, and examples/sec, while the page is open.

Starts ``gankit lab --port 0 --no-browser`` as its own process (as a user
would, one torch thread), sets a problem and presses play through the HTTP
API, then reads the WebSocket as the page does for ``--seconds`` and counts:

- frames/s: frame messages received per second of wall time;
- examples/s: training examples consumed per second of wall time while the
  frames were streaming (steps x batch size between the first and last frame),
  so drawing frames, the p-value thread and the server all count against it;
- the size of a frame on the wire, and the engine that trained.

Runs the chapter's experiment (fast path), an MLP GAN on ring8 (fast path) and
the hinge objective (general loop), unless ``--problem`` names one:

    python benchmarks/lab_fps.py [--seconds 10] [--problem 'target=moons&loss=hinge']
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_line  # noqa: E402

PROBLEMS = {
    "chapter (fast path)": {},
    "ring8, MLP G and D (fast path)": {"target": "ring8", "generator": "mlp", "discriminator": "mlp"},
    "chapter, hinge (general loop)": {"loss": "hinge"},
}


def measure(base: str, token: str, problem: dict, seconds: float) -> dict:
    from websockets.sync.client import connect

    def command(action: str, **args) -> dict:
        request = urllib.request.Request(f"{base}api/command", data=json.dumps({"action": action, **args}).encode(),
                                         headers={"X-Lab-Token": token, "Content-Type": "application/json"})
        with urllib.request.urlopen(request) as response:
            return json.load(response)

    batch = command("reset", problem=problem)["problem"]["batch_size"]
    with connect(f"{base.replace('http', 'ws')}ws?token={urllib.parse.quote(token)}") as ws:
        command("play")
        frames, sizes, first, last, engine = 0, 0, None, None, None
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            text = ws.recv(timeout=5)
            message = json.loads(text)
            if message["type"] != "frame" or not message["playing"]:
                continue
            now = time.monotonic()
            first = first or (now, message["step"])
            last, engine = (now, message["step"]), message["engine"]
            frames += 1
            sizes += len(text)
        command("pause")
    elapsed = last[0] - first[0]
    return {"frames_per_sec": (frames - 1) / elapsed, "examples_per_sec": (last[1] - first[1]) * batch / elapsed,
            "kb_per_frame": sizes / frames / 1024, "engine": engine, "frames": frames, "seconds": elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to read frames, per problem (10)")
    parser.add_argument("--problem", help="one problem as a query string (target=ring8&loss=hinge&...)")
    args = parser.parse_args()
    problems = PROBLEMS if args.problem is None else {
        args.problem: {k: (json.loads(v) if re.fullmatch(r"[-\d.e]+", v) else v)
                       for k, v in urllib.parse.parse_qsl(args.problem)}}
    print(machine_line(), file=sys.stderr)
    lab = subprocess.Popen([sys.executable, "-m", "gankit", "lab", "--port", "0", "--no-browser", "--runs",
                            "runs/lab-benchmark"], stdout=subprocess.PIPE, text=True)
    try:
        url = re.search(r"http://\S+", lab.stdout.readline()).group(0)
        base, token = url.split("?token=")
        print(f"{'problem':34} {'frames/s':>9} {'examples/s':>11} {'KiB/frame':>10}  engine")
        for name, problem in problems.items():
            r = measure(base, token, problem, args.seconds)
            print(f"{name:34} {r['frames_per_sec']:9.1f} {r['examples_per_sec']:11,.0f} {r['kb_per_frame']:10.1f}"
                  f"  {r['engine']}  ({r['frames']} frames in {r['seconds']:.1f} s)")
    finally:
        lab.terminate()
        lab.wait(20)
    print(machine_line(), file=sys.stderr)


if __name__ == "__main__":
    main()
