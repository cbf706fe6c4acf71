"""gankit lab without a browser: the server's guards, uploads, the session's math, save as run."""

import base64
import json
import math
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("starlette")
pytest.importorskip("httpx2")
from starlette.testclient import TestClient  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402

from gankit.cli import main  # noqa: E402
from gankit.engines.fast import run_fast  # noqa: E402
from gankit.engines.training import build_state, train  # noqa: E402
from gankit.errors import UserError  # noqa: E402
from gankit.lab.livetest import LiveTest  # noqa: E402
from gankit.lab.problem import MAX_UPLOAD_BYTES, problem_of, to_config  # noqa: E402
from gankit.lab.record import Recorder  # noqa: E402
from gankit.lab.server import create_app, serve, split_host  # noqa: E402
from gankit.lab.session import LabSession  # noqa: E402
from gankit.lab.views import GRID, MANIFOLD, N_FAKE, geometry, nice  # noqa: E402
from gankit.presets import PRESETS  # noqa: E402

TOKEN = "s3cret-token"
PORT = 8765
BASE = f"http://127.0.0.1:{PORT}"
SMALL = {"n": 64, "batch_size": 8}  # 8 steps an epoch


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """One session behind the app, and a client that speaks to it as the page would."""
    session = LabSession(runs=tmp_path_factory.mktemp("runs"), problem=SMALL)
    with TestClient(create_app(session, TOKEN, PORT), base_url=BASE) as client:
        yield session, client


def post(client, action, **args):
    return client.post(f"/api/command?token={TOKEN}", json={"action": action, **args})


def params(session):
    return [p.detach().clone() for net in (session.state.G, session.state.D) for p in net.parameters()]


# ---- the guards -----------------------------------------------------------------------------------

def test_requests_without_the_token_get_403(lab):
    _, client = lab
    for path in ("/", "/static/lab.js", "/static/lab.css"):
        assert client.get(path).status_code == 403
        assert client.get(f"{path}?token=wrong").status_code == 403
        assert client.get(f"{path}?token={TOKEN}").status_code == 200
    assert client.post("/api/command", json={"action": "pause"}).status_code == 403
    assert client.post("/api/command", json={"action": "pause"}, headers={"X-Lab-Token": TOKEN}).status_code == 200
    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect(f"ws://127.0.0.1:{PORT}/ws"):
            pass
    page = client.get(f"/?token={TOKEN}")
    assert "refused" in client.get("/").text and TOKEN in page.text  # the page passes the token on
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_a_foreign_host_is_refused(lab):
    """DNS rebinding: a page of evil.example resolved to 127.0.0.1 sends Host: evil.example."""
    _, client = lab
    url = f"/?token={TOKEN}"
    for host in ("evil.example:8765", "evil.example", "127.0.0.1:9999", "127.0.0.1", "127.0.0.1.evil.example:8765"):
        response = client.get(url, headers={"host": host})
        assert response.status_code == 403 and "Host" in response.text, host
    for host in ("127.0.0.1:8765", "localhost:8765", "[::1]:8765", "LOCALHOST:8765"):
        assert client.get(url, headers={"host": host}).status_code == 200, host
    assert split_host("[::1]:8765") == ("::1", 8765) and split_host("a:b") is None and split_host("") is None


def test_cross_origin_post_and_websocket_are_refused(lab):
    session, client = lab
    for origin in ("http://evil.example", "http://127.0.0.1:9999", "https://127.0.0.1:8765", "null"):
        assert post_from(client, origin).status_code == 403, origin
        with pytest.raises(WebSocketDisconnect):
            with client.websocket_connect(f"ws://127.0.0.1:{PORT}/ws?token={TOKEN}", headers={"origin": origin}):
                pass
    assert post_from(client, BASE).status_code == 200
    with client.websocket_connect(f"ws://127.0.0.1:{PORT}/ws?token={TOKEN}", headers={"origin": BASE}) as ws:
        first, second = json.loads(ws.receive_text()), json.loads(ws.receive_text())
    assert first["type"] == "problem" and second["type"] == "frame" and second["problem"] == first["version"]


def post_from(client, origin):
    return client.post(f"/api/command?token={TOKEN}", json={"action": "pause"}, headers={"origin": origin})


def test_bad_uploads_get_one_clear_message_and_the_server_keeps_serving(lab, tmp_path):
    session, client = lab

    def upload(name, data):
        return client.post(f"/api/upload?token={TOKEN}&name={name}", content=data)

    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, {"b": 2}]), allow_pickle=True)
    np.save(tmp_path / "three.npy", np.zeros((10, 3)))
    bad = {
        "letters.csv": (b"x1,x2\n1,2\n3,oops\n", "letters.csv: non-numeric value 'oops' at row 3, column 2"),
        "nan.csv": (b"1,2\nnan,3\n4,5\n", "nan.csv: non-finite value nan at row 2, column 1"),
        "empty.csv": (b"", "empty.csv: file is empty"),
        "ragged.csv": (b"1,2\n3\n", "ragged.csv: row 2 has 1 columns, expected 2"),
        "three.npy": ((tmp_path / "three.npy").read_bytes(), "three.npy: the lab shows 2-D points, and this file has 3"),
        "objects.npy": ((tmp_path / "objects.npy").read_bytes(), "objects.npy: not a numeric .npy array"),
        "points.png": (b"\x89PNG....", "points.png: the lab reads .csv, .txt or .npy"),
    }
    for name, (data, message) in bad.items():
        response = upload(name, data)
        assert response.status_code == 400, name
        error = response.json()["error"]
        assert error.startswith(message) and "\n" not in error and "gankit-lab-" not in error, error
    too_big = upload("big.csv", b"1,2\n" * (MAX_UPLOAD_BYTES // 4 + 1))
    assert too_big.status_code == 413 and "larger than 4 MiB" in too_big.json()["error"]
    assert client.post(f"/api/points?token={TOKEN}", json={"points": [[0, 1], ["a", 2]]}).status_code == 400
    assert client.post(f"/api/points?token={TOKEN}", json={"points": [[0, 1]]}).json()["error"].endswith(
        "need at least 2 points, got 1")

    # Still serving, and a good file trains.
    assert client.get(f"/?token={TOKEN}").status_code == 200
    good = upload("good.csv", b"a,b\n" + b"".join(f"{i % 7},{i % 5}\n".encode() for i in range(40)))
    assert good.json()["n"] == 40 and good.json()["name"] == "good.csv"
    answer = post(client, "reset", problem={"target": "file", "data": good.json()["data"]}).json()
    assert answer["problem"]["target"] == "file"
    assert post(client, "step").json() == {"step": 1}
    assert session.state.dataset.train.shape == (32, 2)  # 8 of the 40 held out
    post(client, "reset", problem=SMALL)


def test_bad_commands_and_settings_are_one_message(lab):
    _, client = lab
    cases = [
        ({"action": "fly"}, "unknown action 'fly'"),
        ({"action": "step", "steps": 3}, "step takes no argument 'steps'"),
        ({"action": "speed", "speed": 7}, "speed must be one of (1, 4, 16, 0)"),
        ({"action": "lr", "lr_d": -1}, "train.lr_d"),
        ({"action": "reset", "problem": {"target": "ring9"}}, "unknown target 'ring9'"),
        ({"action": "reset", "problem": {"loss": "wgan"}}, "the lab offers the objectives"),
        ({"action": "reset", "problem": {"batch_size": 0}}, "train.batch_size"),
        ({"action": "reset", "problem": {"g_hidden": "16"}}, "model.g_hidden must be list"),
        ({"action": "reset", "problem": {"colour": "red"}}, "unknown setting 'colour'"),
    ]
    huge = client.post(f"/api/command?token={TOKEN}", content=b"[" + b"0," * (3 * MAX_UPLOAD_BYTES // 2) + b"0]")
    assert huge.status_code == 413
    for body, message in cases:
        response = client.post(f"/api/command?token={TOKEN}", json=body)
        assert response.status_code == 400 and message in response.json()["error"], (body, response.json())
    assert client.get(f"/?token={TOKEN}").status_code == 200


def test_hostile_json_is_a_400_that_names_it_never_a_server_error(lab, capsys):
    """Issue 22 item 8: a list for the action, JSON nested 100,000 deep, numbers float64 cannot hold."""
    _, client = lab
    deep = "[" * 100_000 + "]" * 100_000
    cases = [
        ('{"action": ["play"]}', "unknown action ['play']"),
        ('{"action": {"a": 1}}', "unknown action {'a': 1}"),
        (deep, "nested deeper than 4 levels"),
        ('{"points": ' + deep + "}", "nested deeper than 4 levels"),
        ('{"points": [[%d, 1], [0, 0]]}' % 10**400, "a number of 401 digits in the request is out of range"),
        ('{"action": "lr", "lr_d": %d}' % 10**400, "a number of 401 digits"),
        ('{"action": "lr", "lr_d": 1e999}', "the number 1e999 in the request is out of range"),
        ('{"action": "lr", "lr_d": NaN}', "NaN in the request is not a number JSON allows"),
        ('{"action": "reset", "problem": {"latent_dim": 1e300}}', "model.latent_dim must be an int of at most"),
        ('{"action": "reset", "problem": {"latent_dim": 4611686018427387904}}', "sizes overflow"),
        ('"play"', "request body must be a JSON object, not str"),
        ("{'action': 'play'}", "request body is not JSON"),
    ]
    for body, message in cases:
        for endpoint in ("command", "points") if body.startswith("[") else ("points" if "points" in body else
                                                                           "command",):
            response = client.post(f"/api/{endpoint}?token={TOKEN}", content=body.encode(),
                                   headers={"content-type": "application/json"})
            assert response.status_code == 400 and message in response.json()["error"], (body[:60], response.text)
    assert post(client, "pause").status_code == 200  # a fair request still works (the negative control)
    assert client.post(f"/api/points?token={TOKEN}", json={"points": [[0, 1], [1, 0.5]] * 8}).status_code == 200
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("timed", [True, False])
def test_half_sent_requests_are_closed_after_the_request_deadline(tmp_path, monkeypatch, timed):
    """Issue 22 item 10: 100 requests that stop mid-header or mid-body (or never start) are closed, not held.

    The same server on uvicorn's own protocol keeps them open (the negative control).
    """
    import threading

    import uvicorn
    from uvicorn.protocols.http.h11_impl import H11Protocol

    import gankit.lab.server as server_module

    monkeypatch.setattr(server_module, "REQUEST_SECONDS", 1.0)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    port = sock.getsockname()[1]
    session = LabSession(runs=tmp_path, problem=SMALL)
    app = create_app(session, TOKEN, port)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", ws="websockets-sansio",
                                           http=server_module.timed_protocol() if timed else H11Protocol))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        starts = [b"", b"GET / HTTP/1.1\r\nHost: 127.0.0.1", (
            f"POST /api/command?token={TOKEN} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"act").encode()]
        held = []
        for i in range(99):
            conn = socket.create_connection(("127.0.0.1", port))
            conn.sendall(starts[i % 3])
            held.append(conn)
        good = socket.create_connection(("127.0.0.1", port))  # a whole request, answered as ever
        good.sendall(f"GET /?token={TOKEN} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        assert good.recv(100).startswith(b"HTTP/1.1 200")
        time.sleep(2.5)
        closed = 0
        for conn in held:
            conn.settimeout(0.05)
            try:
                closed += conn.recv(100) == b""
            except (socket.timeout, ConnectionResetError):
                pass
            conn.close()
        assert closed == (99 if timed else 0), closed
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        session.close()


# ---- the session's math ---------------------------------------------------------------------------

def test_a_learning_rate_change_applies_at_the_next_step():
    """From the same state, D's next Adam step scales with the learning rate it is given: exactly
    lr_new / lr_old times the step the unchanged rate takes."""
    steps = {}
    for lr_d in (None, 0.01):
        session = LabSession(runs="unused", problem=SMALL)
        try:
            for _ in range(3):
                session.command("step").result()
            if lr_d is not None:
                change = session.command("lr", lr_d=lr_d).result()
                assert change == {"step": 3, "lr_d": 0.01, "lr_g": 0.005}
                assert session.latest()["lr_d"] == 0.01 and session.latest()["lr_from_step"] == 3
            before = [p.detach().clone() for p in session.state.D.parameters()]
            session.command("step").result()
            steps[lr_d] = torch.cat([(p - b).flatten() for p, b in zip(session.state.D.parameters(), before)])
        finally:
            session.close()
    ratio = steps[0.01] / steps[None]
    assert steps[None].abs().max() > 1e-3
    assert torch.allclose(ratio, torch.full_like(ratio, 0.01 / 0.05), rtol=1e-4)


def test_steps_and_epochs_are_gankit_train(tmp_path):
    """Three single steps (general loop), the rest of the epoch, then a whole epoch (fast path) end
    where gankit's train ends after two epochs (fast path throughout): float32 round-off apart."""
    session = LabSession(runs=tmp_path, problem=SMALL)
    try:
        start = params(session)
        for _ in range(3):
            session.command("step").result()
        assert session.state.step == 3 and session.state.batch == 3
        assert session.command("epoch").result() == {"epoch": 1}  # the rest of epoch 1, step by step
        assert session.command("epoch").result() == {"epoch": 2}  # epoch 2 on the fast path
        assert session.engines_used == ["general", "fast"]
        mine = params(session)
        history = [dict(r) for r in session.state.history]
    finally:
        session.close()
    config = to_config(SMALL)
    config.train.epochs = 2
    reference = train(config)
    theirs = [p.detach() for net in (reference.G, reference.D) for p in net.parameters()]
    assert reference.summary["engine"] == "fast"
    gap = max(float((a - b).abs().max()) for a, b in zip(mine, theirs))
    moved = max(float((a - b).abs().max()) for a, b in zip(mine, start))
    # float32 round-off of two engines over 16 Adam steps (a weight whose gradient is near eps may move
    # by a fraction of lr either way): far below what training moved
    assert gap < 1e-4 < 1e-2 < moved
    assert [r["step"] for r in history] == [8, 16]
    for row, ref in zip(history, reference.history):
        assert math.isclose(row["loss_d"], ref["loss_d"], rel_tol=1e-5)


def test_learning_rates_changed_between_fast_epochs_are_the_engines():
    config = to_config(SMALL)
    session = LabSession(runs="unused", problem=SMALL)
    try:
        session.command("epoch").result()
        session.command("lr", lr_d=0.02, lr_g=0.001).result()
        session.command("epoch").result()
        mine = params(session)
    finally:
        session.close()
    state = build_state(config)
    config.train.epochs = 1
    run_fast([state])
    state.opt_D.param_groups[0]["lr"], state.opt_G.param_groups[0]["lr"] = 0.02, 0.001
    config.train.epochs = 2
    run_fast([state])
    theirs = [p.detach() for net in (state.G, state.D) for p in net.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(mine, theirs))


@pytest.mark.parametrize("loss, eq_d, eq_g", [
    ("nonsaturating", math.log(2), math.log(2)), ("minimax", math.log(2), -math.log(2)),
    ("least_squares", 0.5, 0.5), ("hinge", 2.0, 0.0)])
def test_frames_show_the_views_and_the_objectives_equilibrium(lab, loss, eq_d, eq_g):
    session, client = lab
    post(client, "reset", problem={**SMALL, "loss": loss, "generator": "mlp", "g_hidden": [8]})
    post(client, "epoch")
    with client.websocket_connect(f"ws://127.0.0.1:{PORT}/ws?token={TOKEN}") as ws:
        problem, frame = json.loads(ws.receive_text()), json.loads(ws.receive_text())
    assert problem["equilibrium"]["loss_d"] == pytest.approx(eq_d, abs=1e-6)
    assert problem["equilibrium"]["loss_g"] == pytest.approx(eq_g, abs=1e-6)
    assert problem["truth_known"] is True and len(problem["real"]) == 64
    assert frame["epoch"] == 1 and frame["rows"][0][0] == 1 and frame["engine"] in ("fast", "general")
    assert len(frame["fake"]) == N_FAKE and len(frame["pull"]) == N_FAKE and len(frame["manifold"]) == MANIFOLD ** 2
    assert len(base64.b64decode(frame["surface"])) == GRID * GRID
    assert frame["fd"] > 0 and frame["loss_d"] == pytest.approx(session.state.history[-1]["loss_d"])
    post(client, "reset", problem=SMALL)


def test_the_pull_scale_is_fixed_and_round():
    geo = geometry(torch.tensor([[-2.0, -2.0], [2.0, 2.0]]))
    assert geo.extent[1] - geo.extent[0] == pytest.approx(4 * 1.3)
    assert geo.pull_unit == nice(4 / 5.2) == 1.0 and geo.arrow == pytest.approx(5.2 / 8)
    assert [nice(x) for x in (0.013, 0.3, 0.7, 2.9, 4.0, 80)] == [0.01, 0.2, 0.5, 2.0, 5.0, 100.0]
    assert geometry(torch.tensor([[10.0, 10.0], [11.0, 12.0]])).extent[0] < 0  # the origin, where G starts


def test_the_live_p_value_tells_the_truth_from_a_collapsed_generator():
    state = build_state(to_config({"n": 64}))
    test = LiveTest(state.dataset, seed=0, latent_dim=2, n=128, permutations=99, every=1, min_seconds=0)
    G = state.G
    with torch.no_grad():  # G = the truth: x = z A + b
        G[0].weight.copy_(torch.tensor(state.config.data.transform).T)
        G[0].bias.copy_(torch.tensor(state.config.data.mean))
    results = {}
    for name, scale in (("truth", 1.0), ("collapsed", 0.0)):
        with torch.no_grad():
            G[0].weight.mul_(scale)
        assert test.due(len(results) + 1)
        test.start(G, len(results) + 1)
        deadline = time.monotonic() + 10
        while (test.latest is None or test.latest.epoch != len(results) + 1) and time.monotonic() < deadline:
            time.sleep(0.01)
        results[name] = test.latest.p_value
    assert results["truth"] > 0.05 and results["collapsed"] == pytest.approx(0.01)


def test_the_recorder_keeps_a_bounded_even_spread_of_epochs():
    recorder = Recorder(max_frames=4)
    state = build_state(to_config(SMALL))
    recorder.on_train_start(state)
    for epoch in range(1, 21):
        state.epoch = epoch
        recorder.on_epoch_end(state)
    # 1..5 -> [2, 4] every 2nd; ..10 -> [4, 8] every 4th; ..20 -> [8, 16] every 8th.
    assert recorder.epochs == [8, 16] and recorder.stride == 8
    assert len(recorder.fake) == len(recorder.surface) == len(recorder.pull) == len(recorder.epochs)


# ---- save as run ----------------------------------------------------------------------------------

def test_save_as_run_gives_a_run_that_sample_eval_report_and_export_take(lab, tmp_path, capsys):
    session, client = lab
    assert post(client, "save").status_code == 400  # nothing trained yet
    post(client, "reset", problem={**SMALL, "target": "ring8"})
    post(client, "epoch")
    post(client, "lr", lr_d=0.02)
    for _ in range(3):
        post(client, "step")
    run = post(client, "save", plots=False).json()["run"]
    names = {p.name for p in Path(run).iterdir()}
    assert {"config.json", "generator.safetensors", "discriminator.safetensors", "metrics.jsonl", "metrics.csv",
            "snapshots.safetensors", "summary.json"} <= names
    summary = json.loads((Path(run) / "summary.json").read_text())
    ring8_lr_g = PRESETS["ring8"]["train"]["lr_g"]  # the target's starting recipe, kept by the change of lr_d
    assert summary["steps"] == 11 and summary["lab"]["lr_changes"] == [{"step": 8, "lr_d": 0.02, "lr_g": ring8_lr_g}]
    assert summary["fd_to_truth"] > 0 and summary["data"] == "ring8"
    capsys.readouterr()
    assert main(["sample", run, "-n", "5"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "x1,x2" and len(lines) == 6 and all(len(line.split(",")) == 2 for line in lines)
    assert main(["eval", run, "--n", "64", "--permutations", "19", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_real"] == 64
    assert main(["report", run, "--out", str(tmp_path / "r.html")]) == 0
    assert main(["export", run, "--onnx", str(tmp_path / "g.onnx")]) == 0
    post(client, "reset", problem=SMALL)


def test_drawn_points_train_and_their_run_keeps_its_data(lab, capsys):
    session, client = lab
    angle = np.linspace(0, 2 * np.pi, 30, endpoint=False)
    drawn = np.round(np.stack([np.cos(angle), np.sin(angle)], 1), 4).tolist()
    answer = client.post(f"/api/points?token={TOKEN}", json={"points": drawn}).json()
    assert answer["n"] == 30 and answer["name"] == "drawn.csv"
    post(client, "reset", problem={"target": "file", "data": answer["data"], "batch_size": 4})
    post(client, "epoch")
    run = post(client, "save", plots=False).json()["run"]
    config = json.loads((Path(run) / "config.json").read_text())
    assert config["data"]["source"] == str(Path(run, "data.csv").resolve())
    capsys.readouterr()
    assert main(["eval", run, "--n", "64", "--permutations", "19", "--json"]) == 0  # the held-out split is rebuilt
    assert json.loads(capsys.readouterr().out)["n_real"] == 6
    post(client, "reset", problem=SMALL)


# ---- the command ----------------------------------------------------------------------------------

def test_the_command_checks_its_port(capsys):
    assert main(["lab", "--port", "70000", "--no-browser"]) == 2
    assert "--port must be 0 to 65535" in capsys.readouterr().err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        with pytest.raises(UserError, match="cannot listen on 127.0.0.1"):
            serve("127.0.0.1", taken.getsockname()[1], open_browser=False)


def test_play_trains_until_paused(lab):
    session, client = lab
    post(client, "reset", problem=SMALL)
    post(client, "play")
    deadline = time.monotonic() + 10
    while session.latest()["epoch"] < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    post(client, "pause")
    epoch = session.latest()["epoch"]
    assert epoch >= 3 and session.latest()["playing"] is False
    time.sleep(0.2)
    assert session.latest()["epoch"] == epoch


def test_a_huge_epoch_of_tiny_batches_does_not_block_the_page(lab):
    """20,000 points in batches of 1: at full speed the general loop trains against the clock, so
    frames keep coming and a pause is answered at once, long before the epoch ends."""
    session, client = lab
    post(client, "reset", problem={"n": 20000, "batch_size": 1})
    post(client, "play")
    deadline = time.monotonic() + 10
    while session.latest()["step"] < 50 and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.monotonic()
    post(client, "pause")
    assert time.monotonic() - started < 1.0
    frame = session.latest()
    assert 50 <= frame["step"] < 20000 and frame["epoch"] == 0 and frame["engine"] == "general"
    post(client, "reset", problem=SMALL)


# ---- issue 22 item 14: recipes, saving, names, counts, why a run fails ----------------------------

def test_each_target_starts_from_its_recipe_and_the_ring_converges_with_it():
    """The chapter's rates and batch size on ring8 end with D flat and the points off the ring; its preset does not."""
    from gankit import Config, train
    from gankit.lab.problem import TARGET_NAMES, recipes

    book = recipes()
    assert set(book) == set(TARGET_NAMES)
    assert {k: v for k, v in book["gaussian"].items() if k != "target"} == {
        k: v for k, v in problem_of(Config()).items() if k != "target"}  # the chapter's, exactly
    for target in ("ring8", "grid25", "moons", "swissroll"):
        train_preset = PRESETS[target]["train"]
        assert (book[target]["lr_d"], book[target]["batch_size"]) == (train_preset["lr_d"], train_preset["batch_size"])
        assert to_config({"target": target}).model.init_std == PRESETS[target]["model"]["init_std"]
    assert to_config({"target": "grid25"}).model.data_scale == 4.0  # kept although the page has no such field
    assert to_config({"target": "ring8", "lr_d": 0.01}).train.lr_d == 0.01  # the page's values win
    fd = {}
    for name, config in (("recipe", to_config({"target": "ring8"})), ("chapter", Config())):
        config.data.source, config.train.epochs = "ring8", 30
        fd[name] = train(config).summary["fd_to_truth"]
    assert fd["recipe"] < fd["chapter"] / 5, fd


def test_a_failed_save_leaves_the_session_playing_and_plots_must_be_a_boolean(tmp_path):
    (tmp_path / "a-file").write_text("")
    session = LabSession(runs=tmp_path / "a-file" / "runs", problem=SMALL)  # a path under a file
    try:
        session.command("step").result(30)
        session.command("play").result(30)
        with pytest.raises(UserError, match="a-file"):
            session.command("save", plots=False).result(60)
        assert session.playing  # as it was before the save
        with pytest.raises(UserError, match='plots must be true or false, got "false"'):
            session.command("save", plots="false").result(60)
        assert not list(tmp_path.glob("**/*.png"))
    finally:
        session.close()


def test_a_file_name_is_shown_clean_and_short_and_saves(lab, capsys):
    session, client = lab
    body = b"a,b\n" + b"".join(f"{i % 7},{i % 5}\n".encode() for i in range(40))
    long_name = "x" * 300 + ".csv"
    answer = client.post("/api/upload", params={"token": TOKEN, "name": long_name}, content=body).json()
    assert len(answer["name"]) <= 60 and answer["name"].endswith(".csv") and answer["n"] == 40
    bad = client.post("/api/upload", params={"token": TOKEN, "name": "evil\x00\x1b[2J.csv"}, content=b"1,oops\n")
    assert bad.status_code == 400 and bad.json()["error"].startswith("evil[2J.csv: ")
    assert "\x00" not in bad.text and "\\u0000" not in bad.text and "\x1b" not in bad.text
    problem = post(client, "reset", problem={"target": "file", "data": answer["data"]}).json()["problem"]
    assert problem["n"] == 40  # the file's count, not data.n's 1000
    with client.websocket_connect(f"ws://127.0.0.1:{PORT}/ws?token={TOKEN}") as ws:
        assert json.loads(ws.receive_text())["problem"]["n"] == 40
    post(client, "epoch")
    run = Path(post(client, "save", plots=False).json()["run"])  # a 300-character name made every save fail
    assert run.is_dir() and len(run.name) < 100 and run.name.startswith("lab-" + "x" * 40 + "-seed")
    post(client, "reset", problem=SMALL)


def test_a_page_loaded_after_a_save_is_not_told_it_saved(lab):
    session, client = lab
    post(client, "reset", problem=SMALL)
    post(client, "step")
    assert "run" in post(client, "save", plots=False).json()  # the answer names the run
    with client.websocket_connect(f"ws://127.0.0.1:{PORT}/ws?token={TOKEN}") as ws:
        ws.receive_text()  # the problem
        frame = json.loads(ws.receive_text())
    assert frame["type"] == "frame" and "saved" not in frame and frame["status"] is None


def test_points_leaving_the_view_say_why_the_run_is_failing(lab):
    session, client = lab
    post(client, "reset", problem=SMALL)
    post(client, "step")
    assert session.latest()["status"] is None  # the control: points near the data
    with torch.no_grad():
        last = [m for m in session.state.G.modules() if isinstance(m, torch.nn.Linear)][-1]
        last.bias += 1e3  # every generated point far outside the view
    post(client, "pause")  # any command publishes a frame
    status = session.latest()["status"]
    assert status["level"] == "warning" and "outside the view" in status["text"] and "Data menu" in status["text"]
    post(client, "reset", problem=SMALL)
