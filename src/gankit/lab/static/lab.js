/* gankit lab: the page. Sends commands to the local server, draws the frames it streams. */
"use strict";

(() => {
  const token = document.querySelector('meta[name="lab-token"]').content;
  const $ = (id) => document.getElementById(id);
  const form = $("problem-form");
  const plot = $("plot");
  const PROBLEM_KEYS = ["target", "n", "generator", "g_hidden", "discriminator", "d_hidden", "activation",
    "latent_dim", "loss", "lr_d", "lr_g", "batch_size", "seed"];
  const INTS = new Set(["n", "latent_dim", "batch_size", "seed"]);
  const FLOATS = new Set(["lr_d", "lr_g"]);
  const LISTS = new Set(["g_hidden", "d_hidden"]);
  const DRAW_EXTENT = [-3, 3, -3, 3];

  let problem = null; // the server's problem message
  let frame = null; // the latest frame of that problem
  let rows = []; // [epoch, loss_d, loss_g] per epoch
  let dataId = null; // id of drawn or dropped points on the server
  let drawn = null; // points being drawn (drawing mode), or null
  let pending = false; // a redraw is scheduled
  const frameTimes = [];

  // ---- talking to the server ----------------------------------------------------------------------

  async function post(path, body, raw) {
    const headers = { "X-Lab-Token": token };
    if (!raw) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, { method: "POST", headers, body: raw ? body : JSON.stringify(body) });
    } catch (err) {
      say("the lab server is not answering (is gankit lab still running?)");
      throw err;
    }
    const answer = await response.json().catch(() => ({ error: `server answered ${response.status}` }));
    if (!response.ok) {
      say(answer.error || `server answered ${response.status}`);
      throw new Error(answer.error);
    }
    return answer;
  }

  const command = (action, args) => post("api/command", { action, ...(args || {}) });

  function connect() {
    const ws = new WebSocket(`ws://${location.host}/ws?token=${encodeURIComponent(token)}`);
    ws.onopen = () => { $("connection").textContent = "live"; $("connection").classList.add("live"); };
    ws.onclose = () => {
      $("connection").textContent = "offline";
      $("connection").classList.remove("live");
      setTimeout(connect, 1000);
    };
    ws.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "problem") onProblem(message);
      else if (message.type === "frame" && problem && message.problem === problem.version) onFrame(message);
    };
  }

  // ---- messages from the server -------------------------------------------------------------------

  function onProblem(message) {
    problem = message;
    frame = null;
    rows = [];
    if (!editing) {
      fillForm(message.problem);
      if (message.problem.target === "file" && message.data_name === "drawn.csv") {
        form.elements.target.value = "draw";
        showFields();
      }
    }
    if (message.problem.target === "file") dataId = message.problem.data;
    const p = message.problem;
    const nets = `G ${p.generator === "mlp" ? "MLP " + p.g_hidden.join("-") : "linear"}, ` +
      `D ${p.discriminator === "mlp" ? "MLP " + p.d_hidden.join("-") : "2-5-3-1"}`;
    $("problem-line").textContent = `${message.data_name}: ${message.n_train} points` +
      (message.n_heldout ? ` (+${message.n_heldout} held out)` : "") + ` · ${nets} · ${p.loss} · batch ${p.batch_size} · seed ${p.seed}`;
    $("fd-label").textContent = message.truth_known ? "FD to truth" : "FD to data fit";
    $("pull-unit").textContent = String(message.pull_unit);
    const eq = message.equilibrium;
    $("eq-note").textContent = Math.abs(eq.loss_d - eq.loss_g) < 1e-9
      ? `Dashed: both losses when D outputs ½ everywhere (${eq.loss_d.toFixed(3)}).`
      : `Dashed: the losses when D outputs ½ everywhere (loss_D ${eq.loss_d.toFixed(3)}, loss_G ${eq.loss_g.toFixed(3)}).`;
    $("f-pvalue").title = message.pvalue_note || "";
    updatePermalink();
    schedule();
  }

  function onFrame(message) {
    rows = rows.concat(message.rows);
    frame = message;
    const now = performance.now();
    frameTimes.push(now);
    while (frameTimes.length > 1 && frameTimes[0] < now - 2000) frameTimes.shift();
    const num = (v, digits) => (v === null || v === undefined ? "—" : Number(v).toFixed(digits));
    $("f-epoch").textContent = String(message.epoch);
    $("f-step").textContent = String(message.step);
    $("f-eps").textContent = message.examples_per_sec === null ? "—" : Math.round(message.examples_per_sec).toLocaleString("en");
    $("f-fps").textContent = message.playing && frameTimes.length > 2
      ? ((frameTimes.length - 1) / ((frameTimes[frameTimes.length - 1] - frameTimes[0]) / 1000)).toFixed(1) : "—";
    $("f-fd").textContent = num(message.fd, 4);
    $("f-kl").textContent = num(message.kl, 4);
    $("f-pvalue").textContent = message.pvalue === null ? "—" : message.pvalue.toFixed(3);
    $("f-pvalue-epoch").textContent = message.pvalue_epoch === null ? "" : `epoch ${message.pvalue_epoch}`;
    $("f-loss-d").textContent = num(message.loss_d, 4);
    $("f-loss-g").textContent = num(message.loss_g, 4);
    $("f-engine").textContent = message.engine;
    $("play").textContent = message.playing ? "❚❚ Pause" : "▶ Play";
    $("lr-note").textContent = `Training with lr_D ${message.lr_d}, lr_G ${message.lr_g}` +
      (message.lr_from_step ? ` since step ${message.lr_from_step}.` : ".");
    $("lr-note").dataset.lrD = message.lr_d;
    $("lr-note").dataset.lrG = message.lr_g;
    if (!message.status && shownStatus !== null && $("message").className === "warning") {
      $("message").hidden = true; // the points are back in view
      shownStatus = null;
    }
    if (message.status && message.status.text !== shownStatus) {
      shownStatus = message.status.text;
      say(message.status.text, message.status.level);
    }
    schedule();
  }
  let shownStatus = null;

  function say(text, level) {
    $("message-text").textContent = text;
    $("message").className = level === "info" || level === "warning" ? level : "";
    $("message").hidden = false;
  }
  $("message-close").onclick = () => { $("message").hidden = true; };

  // ---- drawing ------------------------------------------------------------------------------------

  const show = () => ({
    surface: $("show-surface").checked, real: $("show-real").checked, fake: $("show-fake").checked,
    manifold: $("show-manifold").checked, pull: $("show-pull").checked,
  });

  function schedule() {
    if (!pending) { pending = true; requestAnimationFrame(redraw); }
  }

  function redraw() {
    pending = false;
    if (drawn) {
      LabDraw.view(plot, problem, null, show(), drawn, DRAW_EXTENT);
    } else if (problem) {
      LabDraw.view(plot, problem, frame, show(), null, null);
      const [x0, x1] = problem.extent;
      LabDraw.arrowKey($("arrow-key"), (problem.arrow / (x1 - x0)) * plot.clientWidth);
      LabDraw.losses($("losses"), rows, problem.equilibrium);
    }
  }
  for (const id of ["show-surface", "show-real", "show-fake", "show-manifold", "show-pull"]) $(id).onchange = schedule;
  new ResizeObserver(schedule).observe(plot);

  // ---- controls -----------------------------------------------------------------------------------

  $("play").onclick = () => command(frame && frame.playing ? "pause" : "play");
  $("step").onclick = () => command("step");
  $("epoch-button").onclick = () => command("epoch");
  $("reset").onclick = () => reset();
  $("speed").onchange = () => command("speed", { speed: Number($("speed").value) });
  $("save").onclick = async () => {
    $("save").disabled = true;
    $("saved").textContent = "Saving…";
    try {
      const answer = await post("api/command", { action: "save", plots: $("save-plots").checked });
      $("saved").textContent = `Saved: ${answer.run}. Try: gankit sample ${answer.run} -n 5`;
    } catch (err) {
      $("saved").textContent = "";
    } finally {
      $("save").disabled = false;
    }
  };

  // ---- the problem form ---------------------------------------------------------------------------

  let editing = false;

  function fillForm(p) {
    for (const key of PROBLEM_KEYS) {
      const field = form.elements[key];
      if (!field || p[key] === undefined || p[key] === null) continue;
      field.value = LISTS.has(key) ? p[key].join(",") : String(p[key]);
    }
    if (drawn) form.elements.target.value = "draw";
    showFields();
  }

  function readForm() {
    const p = {};
    for (const key of PROBLEM_KEYS) {
      const raw = form.elements[key].value.trim();
      if (key === "target") p.target = raw;
      else if (INTS.has(key)) p[key] = Number.isFinite(Number(raw)) && raw !== "" ? Number(raw) : raw;
      else if (FLOATS.has(key)) p[key] = raw !== "" && Number.isFinite(Number(raw)) ? Number(raw) : raw;
      else if (LISTS.has(key)) p[key] = raw.split(/[ ,]+/).filter(Boolean).map(Number);
      else p[key] = raw;
    }
    if (p.target === "file" || p.target === "draw") { p.target = "file"; p.data = dataId; delete p.n; }
    return p;
  }

  function showFields() {
    const target = form.elements.target.value, g = form.elements.generator.value, d = form.elements.discriminator.value;
    document.querySelectorAll(".for-file").forEach((el) => { el.hidden = target !== "file"; });
    document.querySelectorAll(".for-target").forEach((el) => { el.hidden = target === "file" || target === "draw"; });
    document.querySelectorAll(".for-g-mlp").forEach((el) => { el.hidden = g !== "mlp"; });
    document.querySelectorAll(".for-d-mlp").forEach((el) => { el.hidden = d !== "mlp"; });
    document.querySelectorAll(".for-mlp").forEach((el) => { el.hidden = g !== "mlp" && d !== "mlp"; });
  }

  async function reset(extra) {
    const p = { ...readForm(), ...(extra || {}) };
    if (p.target === "file" && !p.data) {
      say("draw some points or choose a file first");
      return null;
    }
    const wasPlaying = frame && frame.playing;
    const answer = await command("reset", { problem: p });
    $("message").hidden = true;
    shownStatus = null;
    if (wasPlaying) await command("play");
    return answer;
  }

  form.addEventListener("focusin", () => { editing = true; });
  form.addEventListener("focusout", () => { editing = false; });
  form.addEventListener("submit", (event) => event.preventDefault());
  form.addEventListener("change", async (event) => {
    const name = event.target.name;
    showFields();
    if (name === "lr_d" || name === "lr_g") {
      if (event.target.value.trim() === "") return; // still typing
      await command("lr", { [name]: Number(event.target.value) }).catch(() => {});
      return;
    }
    if (name === "target") {
      const target = event.target.value;
      if (target === "draw") { startDrawing(); return; }
      stopDrawing();
      if (target === "file") { $("file-input").click(); return; }
      // A named target starts from its own recipe (the toy presets), keeping the seed.
      const recipe = problem && problem.recipes && problem.recipes[target];
      if (recipe) fillForm({ ...recipe, seed: form.elements.seed.value });
    }
    if (!name) return; // the file input has its own handler
    await reset().catch(() => {});
  });

  // ---- drawn points -------------------------------------------------------------------------------

  function startDrawing() {
    drawn = [];
    $("drawn-count").textContent = "0";
    $("draw-hint").hidden = false;
    plot.classList.add("drawing");
    schedule();
  }

  function stopDrawing() {
    drawn = null;
    $("draw-hint").hidden = true;
    plot.classList.remove("drawing");
    schedule();
  }

  let stroke = null;
  plot.addEventListener("pointerdown", (event) => {
    if (!drawn) return;
    plot.setPointerCapture(event.pointerId);
    stroke = [event.clientX, event.clientY];
    addPoint(event);
  });
  plot.addEventListener("pointermove", (event) => {
    if (!drawn || !stroke) return;
    if (Math.hypot(event.clientX - stroke[0], event.clientY - stroke[1]) < 6) return; // one point per 6 px
    stroke = [event.clientX, event.clientY];
    addPoint(event);
  });
  plot.addEventListener("pointerup", () => { stroke = null; });

  function addPoint(event) {
    const [x, y] = LabDraw.toData(plot, event, DRAW_EXTENT);
    drawn.push([Math.round(x * 1e4) / 1e4, Math.round(y * 1e4) / 1e4]);
    $("drawn-count").textContent = String(drawn.length);
    schedule();
  }

  $("clear-drawn").onclick = () => { drawn = []; $("drawn-count").textContent = "0"; schedule(); };
  $("train-drawn").onclick = async () => {
    try {
      const answer = await post("api/points", { points: drawn });
      dataId = answer.data;
      stopDrawing();
      form.elements.target.value = "draw";
      await reset({ target: "file", data: dataId });
      form.elements.target.value = "draw";
    } catch (err) { /* said */ }
  };

  // ---- dropped files ------------------------------------------------------------------------------

  async function upload(file) {
    try {
      const answer = await post(`api/upload?name=${encodeURIComponent(file.name)}`, file, true);
      dataId = answer.data;
      stopDrawing();
      form.elements.target.value = "file";
      showFields();
      await reset({ target: "file", data: dataId });
    } catch (err) { /* said */ }
  }
  $("file-input").onchange = () => { if ($("file-input").files.length) upload($("file-input").files[0]); };
  const box = $("canvas-box");
  box.addEventListener("dragover", (event) => {
    event.preventDefault();
    box.classList.add("dropping");
    $("drop-hint").hidden = false;
  });
  box.addEventListener("dragleave", () => { box.classList.remove("dropping"); $("drop-hint").hidden = true; });
  box.addEventListener("drop", (event) => {
    event.preventDefault();
    box.classList.remove("dropping");
    $("drop-hint").hidden = true;
    if (event.dataTransfer.files.length) upload(event.dataTransfer.files[0]);
  });

  // ---- links --------------------------------------------------------------------------------------

  function updatePermalink() {
    const p = readForm(), query = new URLSearchParams({ token });
    if (p.target === "file") return void ($("permalink").hidden = true);
    $("permalink").hidden = false;
    for (const key of PROBLEM_KEYS) {
      if (p[key] !== undefined) query.set(key, Array.isArray(p[key]) ? p[key].join(",") : String(p[key]));
    }
    $("permalink").href = `?${query}`;
  }

  async function start() {
    // Query parameters set the first problem (?target=ring8&loss=hinge&autoplay=1); without any, the
    // page shows the session as it is.
    const query = new URLSearchParams(location.search);
    const given = PROBLEM_KEYS.filter((key) => query.has(key));
    for (const key of given) {
      if (form.elements[key]) form.elements[key].value = query.get(key);
    }
    if (query.has("speed")) $("speed").value = query.get("speed");
    showFields();
    connect();
    try {
      if (query.has("speed")) await command("speed", { speed: Number(query.get("speed")) });
      if (given.length) await reset();
      if (query.get("autoplay") === "1") await command("play");
    } catch (err) { /* said */ }
  }

  start();
})();
