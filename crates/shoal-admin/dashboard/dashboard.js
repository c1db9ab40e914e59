// shoal dashboard: polls the admin API (same origin) and draws what it returns.
//
// No framework, no build step, no external file: the page must work offline and under a
// Content-Security-Policy that allows only this script. Text always goes into the page as
// text (textContent), never as markup. The admin token, when the API asks for one, is kept in
// sessionStorage (this tab only) and sent as an Authorization header, never in a URL.
"use strict";

(function () {
  const POLL_MS = 1000;
  /** Listeners and routes change only on reloads: fetched every this many polls. */
  const LISTENERS_EVERY = 5;
  /** Samples kept for the charts (one per poll: five minutes). */
  const HISTORY = 300;
  /** Polls a rate is averaged over, so one quiet second does not read as zero. */
  const RATE_WINDOW = 5;
  /** Events shown in the list. */
  const EVENTS_SHOWN = 200;
  const TOKEN_KEY = "shoal.admin-token";
  /** Event kinds that change how many backends an upstream has: marked on the chart. */
  const MEMBERSHIP_KINDS = new Set(["add", "remove", "scale", "reload"]);

  // ---- errors, recorded for people (the notice) and for the browser test ----------------
  const recordedErrors = [];
  window.addEventListener("error", (event) => {
    recordedErrors.push("error: " + String(event.message || event.type));
  });
  window.addEventListener("unhandledrejection", (event) => {
    recordedErrors.push("unhandled rejection: " + String(event.reason));
  });
  const originalConsoleError = console.error.bind(console);
  console.error = function (...args) {
    recordedErrors.push("console.error: " + args.map(String).join(" "));
    originalConsoleError(...args);
  };

  // ---- state -------------------------------------------------------------------------------
  const state = {
    token: sessionStorage.getItem(TOKEN_KEY),
    polling: false,
    timer: null,
    polls: 0,
    okPolls: 0,
    lastError: null,
    /** "upstream addr" -> [{t, requests, failures}] (the last RATE_WINDOW samples). */
    samples: new Map(),
    history: [],
    markers: [],
    lastEventId: 0,
    upstreamBoxes: new Map(),
    lastUpstreams: [],
    listenersShown: false,
  };

  // What the browser test reads through WebDriver.
  window.__shoal = {
    errors: recordedErrors,
    polls: () => state.polls,
    okPolls: () => state.okPolls,
    lastError: () => state.lastError,
  };

  // ---- small helpers -----------------------------------------------------------------------
  function $(id) {
    return document.getElementById(id);
  }

  /** An element with attributes (`class`, `data-*`, `title`, ...) and text or child nodes. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === undefined || child === null) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function setText(node, text) {
    const value = String(text);
    if (node.textContent !== value) node.textContent = value;
  }

  function fmtRate(value) {
    if (value === null || value === undefined || !isFinite(value)) return "–";
    if (value >= 100) return value.toFixed(0);
    if (value >= 10) return value.toFixed(1);
    return value.toFixed(2);
  }

  function fmtPercent(value) {
    if (value === null || value === undefined || !isFinite(value)) return "–";
    if (value === 0) return "0%";
    return (value * 100).toFixed(value >= 0.1 ? 0 : 1) + "%";
  }

  function fmtWeight(value) {
    return Number.isInteger(value) ? String(value) : value.toFixed(2);
  }

  function fmtClock(ms) {
    const d = new Date(ms);
    return [d.getHours(), d.getMinutes(), d.getSeconds()]
      .map((n) => String(n).padStart(2, "0"))
      .join(":");
  }

  function fmtAgo(ms) {
    const seconds = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (seconds < 60) return seconds + "s ago";
    if (seconds < 3600) return Math.round(seconds / 60) + "m ago";
    return Math.round(seconds / 3600) + "h ago";
  }

  // ---- the API -----------------------------------------------------------------------------
  class AuthError extends Error {}
  class ApiError extends Error {
    constructor(status, message, details) {
      super(message);
      this.status = status;
      this.details = details || [];
    }
  }

  /** One call; JSON in, JSON out. 401 → AuthError, other non-2xx → ApiError with the API's message. */
  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (state.token) headers.Authorization = "Bearer " + state.token;
    const init = { method, headers, cache: "no-store", credentials: "omit" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      throw new ApiError(0, "cannot reach the admin API (" + String(error.message || error) + ")");
    }
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    const message = (data && data.error) || response.statusText || "HTTP " + response.status;
    if (response.status === 401) throw new AuthError(message);
    if (!response.ok) throw new ApiError(response.status, message, data && data.details);
    return data;
  }

  function backendPath(upstream, addr) {
    return (
      "/api/v1/upstreams/" + encodeURIComponent(upstream) + "/backends/" + encodeURIComponent(addr)
    );
  }

  // ---- notices and the connection indicator ---------------------------------------------------
  function notice(text, info) {
    const box = $("notice");
    box.replaceChildren();
    if (!text) {
      box.hidden = true;
      return;
    }
    const lines = Array.isArray(text) ? text : [text];
    lines.forEach((line, i) => {
      if (i > 0) box.append(el("br"));
      box.append(document.createTextNode(line));
    });
    box.classList.toggle("info", Boolean(info));
    box.hidden = false;
  }

  function setConnection(ok, text) {
    const node = $("connection");
    node.classList.toggle("ok", ok);
    node.classList.toggle("bad", !ok);
    setText(node, text);
  }

  // ---- token -------------------------------------------------------------------------------
  function askForToken(message) {
    stopPolling();
    $("token-panel").hidden = false;
    $("main").hidden = true;
    const error = $("token-error");
    if (state.token) {
      error.hidden = false;
      setText(error, "The token was refused: " + message);
    } else {
      error.hidden = true;
    }
    setConnection(false, "token needed");
    $("token-input").focus();
  }

  function useToken(token) {
    state.token = token;
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
    $("forget-token").hidden = !token;
    $("token-panel").hidden = true;
    $("main").hidden = false;
    startPolling();
  }

  // ---- polling -----------------------------------------------------------------------------
  function startPolling() {
    if (state.polling) return;
    state.polling = true;
    poll();
  }

  function stopPolling() {
    state.polling = false;
    if (state.timer !== null) clearTimeout(state.timer);
    state.timer = null;
  }

  async function poll() {
    if (!state.polling) return;
    state.timer = null;
    try {
      const upstreams = await api("GET", "/api/v1/upstreams");
      if (!state.listenersShown || state.polls % LISTENERS_EVERY === 0) {
        renderListeners(await api("GET", "/api/v1/listeners"));
        state.listenersShown = true;
      }
      const events = await api("GET", "/api/v1/events?since=" + state.lastEventId);
      const now = Date.now();
      update(upstreams, now);
      addEvents(events);
      draw();
      state.okPolls += 1;
      state.lastError = null;
      setConnection(true, "live · " + fmtClock(now));
    } catch (error) {
      if (error instanceof AuthError) {
        askForToken(error.message);
        state.polls += 1;
        return;
      }
      state.lastError = String(error.message || error);
      setConnection(false, state.lastError);
    }
    state.polls += 1;
    if (state.polling) state.timer = setTimeout(poll, POLL_MS);
  }

  /** Polls again now (after an action), without waiting for the timer. */
  function pollSoon() {
    if (!state.polling) return;
    if (state.timer !== null) {
      clearTimeout(state.timer);
      state.timer = null;
      poll();
    }
  }

  // ---- rates -------------------------------------------------------------------------------
  /** Adds a sample for a backend; its requests/s and error rate over the window (null at first). */
  function rateOf(key, now, requests, failures) {
    let list = state.samples.get(key);
    if (!list) {
      list = [];
      state.samples.set(key, list);
    }
    const last = list[list.length - 1];
    // Counters restart when a backend leaves and comes back: start the window again.
    if (last && (requests < last.requests || failures < last.failures)) list.length = 0;
    list.push({ t: now, requests, failures });
    if (list.length > RATE_WINDOW + 1) list.shift();
    const first = list[0];
    const dt = (now - first.t) / 1000;
    if (list.length < 2 || dt <= 0) return { rps: null, fps: null, dreq: 0, dfail: 0 };
    const dreq = requests - first.requests;
    const dfail = failures - first.failures;
    return { rps: dreq / dt, fps: dfail / dt, dreq, dfail };
  }

  function update(upstreams, now) {
    let rps = 0;
    let fps = 0;
    let dreq = 0;
    let dfail = 0;
    let known = false;
    let inFlight = 0;
    let total = 0;
    let eligible = 0;
    const seen = new Set();
    for (const up of upstreams) {
      total += up.backends.length;
      eligible += up.eligible;
      for (const b of up.backends) {
        const key = up.name + " " + b.addr;
        seen.add(key);
        b.rate = rateOf(key, now, b.requests, b.failures);
        inFlight += b.in_flight;
        if (b.rate.rps !== null) {
          known = true;
          rps += b.rate.rps;
          fps += b.rate.fps;
          dreq += b.rate.dreq;
          dfail += b.rate.dfail;
        }
      }
    }
    for (const key of [...state.samples.keys()]) {
      if (!seen.has(key)) state.samples.delete(key);
    }
    const latency = latencyOf(upstreams);
    state.history.push({
      t: now,
      rps: known ? rps : null,
      fps: known ? fps : null,
      total,
      eligible,
      p50: latency.p50,
      p99: latency.p99,
    });
    if (state.history.length > HISTORY) state.history.shift();
    state.lastUpstreams = upstreams;

    setText($("sum-rps"), known ? fmtRate(rps) : "–");
    setText($("sum-errors"), known && dreq > 0 ? fmtPercent(dfail / dreq) : known ? "0%" : "–");
    setText($("sum-inflight"), String(inFlight));
    setText($("sum-backends"), eligible + " / " + total);
    renderUpstreams(upstreams);
  }

  /**
   * Latency percentiles, once the API exposes them on upstream views (`latency_p50_ms`,
   * `latency_p99_ms`): the worst upstream's. Null while it does not.
   */
  function latencyOf(upstreams) {
    let p50 = null;
    let p99 = null;
    for (const up of upstreams) {
      if (typeof up.latency_p50_ms === "number") p50 = Math.max(p50 || 0, up.latency_p50_ms);
      if (typeof up.latency_p99_ms === "number") p99 = Math.max(p99 || 0, up.latency_p99_ms);
    }
    return { p50, p99 };
  }

  // ---- upstreams ---------------------------------------------------------------------------
  const COLUMNS = [
    ["backend", ""],
    ["state", ""],
    ["weight", "num"],
    ["effective", "num"],
    ["in flight", "num"],
    ["req/s", "num"],
    ["errors", "num"],
    ["requests", "num"],
    ["last check", ""],
    ["", ""],
  ];

  function makeUpstreamBox(name) {
    const title = el("span", { class: "name mono" }, name);
    const meta = el("span", { class: "meta" });
    const panic = el("span", { class: "badge panic", hidden: true }, "panic");
    const head = el("tr", {}, ...COLUMNS.map(([label, cls]) => el("th", { class: cls || null }, label)));
    const body = el("tbody");
    const box = el(
      "div",
      { class: "upstream", "data-upstream": name },
      el("h3", {}, title, panic, meta),
      el("table", {}, el("thead", {}, head), body),
    );
    return { el: box, meta, panic, body, rows: new Map() };
  }

  function actionButton(action, label, upstream, addr) {
    const button = el(
      "button",
      { type: "button", class: "small" + (action === "drain" ? "" : " quiet"), "data-action": action },
      label,
    );
    button.addEventListener("click", () => backendAction(button, action, upstream, addr));
    return button;
  }

  function makeRow(upstream, addr) {
    const cells = {
      state: el("span", { class: "badge" }),
      weight: el("td", { class: "num weight" }),
      effective: el("td", { class: "num effective" }),
      inFlight: el("td", { class: "num in-flight" }),
      rps: el("td", { class: "num rps" }),
      errors: el("td", { class: "num errors" }),
      requests: el("td", { class: "num requests" }),
      check: el("td", { class: "why check" }),
      drain: actionButton("drain", "Drain", upstream, addr),
      enable: actionButton("enable", "Enable", upstream, addr),
      disable: actionButton("disable", "Disable", upstream, addr),
    };
    const row = el(
      "tr",
      { "data-upstream": upstream, "data-backend": addr },
      el("td", { class: "addr" }, addr),
      el("td", { class: "state" }, cells.state),
      cells.weight,
      cells.effective,
      cells.inFlight,
      cells.rps,
      cells.errors,
      cells.requests,
      cells.check,
      el("td", { class: "buttons" }, cells.drain, cells.enable, cells.disable),
    );
    return { el: row, cells };
  }

  function renderUpstreams(upstreams) {
    const root = $("upstreams");
    const seen = new Set();
    const empty = root.querySelector(".empty");
    if (upstreams.length === 0) {
      if (!empty) root.replaceChildren(el("p", { class: "empty" }, "no upstreams"));
      state.upstreamBoxes.clear();
      return;
    }
    if (empty) empty.remove();
    upstreams.forEach((up, index) => {
      seen.add(up.name);
      let box = state.upstreamBoxes.get(up.name);
      if (!box) {
        box = makeUpstreamBox(up.name);
        state.upstreamBoxes.set(up.name, box);
      }
      if (root.children[index] !== box.el) root.insertBefore(box.el, root.children[index] || null);
      setText(box.meta, up.algorithm + " · " + up.eligible + " of " + up.backends.length + " eligible");
      box.panic.hidden = !up.panic;
      renderRows(box, up);
    });
    for (const [name, box] of [...state.upstreamBoxes]) {
      if (!seen.has(name)) {
        box.el.remove();
        state.upstreamBoxes.delete(name);
      }
    }
  }

  function renderRows(box, up) {
    const seen = new Set();
    up.backends.forEach((b, index) => {
      seen.add(b.addr);
      let row = box.rows.get(b.addr);
      if (!row) {
        row = makeRow(up.name, b.addr);
        box.rows.set(b.addr, row);
      }
      if (box.body.children[index] !== row.el) {
        box.body.insertBefore(row.el, box.body.children[index] || null);
      }
      const c = row.cells;
      setText(c.state, b.state.replace("_", " "));
      c.state.className = "badge " + b.state;
      row.el.dataset.state = b.state;
      setText(c.weight, b.weight);
      setText(c.effective, fmtWeight(b.effective_weight));
      setText(c.inFlight, b.in_flight);
      setText(c.rps, fmtRate(b.rate.rps));
      setText(c.errors, b.rate.dreq > 0 ? fmtPercent(b.rate.dfail / b.rate.dreq) : b.rate.rps === null ? "–" : "0%");
      setText(c.requests, b.requests);
      if (b.last_check) {
        const why = b.last_check.reason ? ": " + b.last_check.reason : "";
        setText(c.check, b.last_check.result.replace("_", " ") + why + " (" + fmtAgo(b.last_check.at_unix_ms) + ")");
      } else {
        setText(c.check, "–");
      }
      const stopped = b.state === "draining" || b.state === "disabled";
      c.drain.hidden = stopped;
      c.enable.hidden = !stopped;
      c.disable.hidden = b.state === "disabled";
    });
    for (const [addr, row] of [...box.rows]) {
      if (!seen.has(addr)) {
        row.el.remove();
        box.rows.delete(addr);
      }
    }
  }

  async function backendAction(button, action, upstream, addr) {
    button.disabled = true;
    try {
      const view = await api("POST", backendPath(upstream, addr) + "/" + action);
      notice(upstream + " " + addr + ": " + action + " → " + view.state.replace("_", " "), true);
    } catch (error) {
      if (error instanceof AuthError) askForToken(error.message);
      else notice(upstream + " " + addr + ": " + action + " refused: " + error.message);
    } finally {
      button.disabled = false;
    }
    pollSoon();
  }

  async function reloadConfig() {
    const button = $("reload");
    button.disabled = true;
    try {
      const summary = await api("POST", "/api/v1/reload");
      const parts = [];
      const list = (label, items) => {
        if (items && items.length) parts.push(label + " " + items.join(", "));
      };
      list("upstreams added:", summary.upstreams_added);
      list("upstreams removed:", summary.upstreams_removed);
      list("backends added:", summary.backends_added);
      list("backends removed:", summary.backends_removed);
      list("listeners added:", summary.listeners_added);
      list("listeners removed:", summary.listeners_removed);
      notice(summary.changed ? ["Reloaded."].concat(parts) : "Reloaded: the config has not changed.", true);
      state.listenersShown = false;
    } catch (error) {
      if (error instanceof AuthError) askForToken(error.message);
      else notice(["Reload refused (the old config keeps serving): " + error.message].concat(error.details || []));
    } finally {
      button.disabled = false;
    }
    pollSoon();
  }

  // ---- listeners ---------------------------------------------------------------------------
  function renderListeners(listeners) {
    const root = $("listeners");
    if (listeners.length === 0) {
      root.replaceChildren(el("p", { class: "empty" }, "no listeners"));
      return;
    }
    root.replaceChildren(
      ...listeners.map((l) =>
        el(
          "div",
          { class: "listener", "data-listener": l.name },
          el("h3", {}, el("span", { class: "mono" }, l.name), " ", el("span", { class: "badge" }, l.protocol), " ", el("span", { class: "mono" }, l.bind)),
          l.routes.length === 0
            ? el("p", { class: "empty" }, "no routes")
            : el(
                "table",
                {},
                el("thead", {}, el("tr", {}, el("th", {}, "route"), el("th", {}, "match"), el("th", {}, "target"))),
                el(
                  "tbody",
                  {},
                  ...l.routes.map((r) =>
                    el("tr", {}, el("td", { class: "mono" }, r.name), el("td", { class: "mono" }, r.matcher), el("td", { class: "mono" }, r.target)),
                  ),
                ),
              ),
        ),
      ),
    );
  }

  // ---- events ------------------------------------------------------------------------------
  function addEvents(events) {
    if (!events.length) return;
    const list = $("events");
    for (const e of events) {
      state.lastEventId = Math.max(state.lastEventId, e.id);
      const where = [e.upstream, e.backend].filter(Boolean).join(" ");
      list.prepend(
        el(
          "li",
          { "data-kind": e.kind, title: new Date(e.at_unix_ms).toString() },
          el("span", { class: "when" }, fmtClock(e.at_unix_ms)),
          el("span", { class: "kind" }, el("span", { class: "badge " + eventClass(e) }, e.kind.replace("_", " "))),
          el("span", { class: "what" }, where ? where + ": " + e.message : e.message),
        ),
      );
      const unchanged = e.kind === "reload" && / no change$/.test(e.message);
      if (MEMBERSHIP_KINDS.has(e.kind) && !unchanged) {
        state.markers.push({ t: e.at_unix_ms, label: e.kind });
      }
    }
    while (list.children.length > EVENTS_SHOWN) list.lastElementChild.remove();
    if (state.markers.length > HISTORY) state.markers.splice(0, state.markers.length - HISTORY);
    $("events-empty").hidden = true;
  }

  function eventClass(e) {
    switch (e.kind) {
      case "drain":
        return "draining";
      case "disable":
        return "disabled";
      case "enable":
      case "add":
      case "reload":
        return "ready";
      case "reload_failed":
        return "down";
      case "health":
        return /-> (down|not_ready)/.test(e.message) ? "down" : "ready";
      default:
        return "";
    }
  }

  // ---- charts: drawn by hand on <canvas> ---------------------------------------------------
  const COLORS = {};
  function color(name) {
    if (!COLORS[name]) {
      COLORS[name] = getComputedStyle(document.documentElement).getPropertyValue("--" + name).trim() || "#333";
    }
    return COLORS[name];
  }

  /** A "nice" upper bound for an axis: 1, 2 or 5 times a power of ten. */
  function niceMax(value) {
    if (!(value > 0)) return 1;
    const power = Math.pow(10, Math.floor(Math.log10(value)));
    for (const step of [1, 2, 5, 10]) {
      if (value <= step * power) return step * power;
    }
    return 10 * power;
  }

  /**
   * Draws lines over time. `series`: [{values: [number|null], color, fill}], aligned with
   * `times` (ms). `markers`: [{t, label}] drawn as dashed vertical lines.
   */
  function drawChart(canvas, times, series, options) {
    const dpr = window.devicePixelRatio || 1;
    const width = Math.max(200, Math.round(canvas.clientWidth || canvas.width));
    const height = Math.max(100, Math.round(canvas.clientHeight || canvas.height));
    if (canvas.width !== width * dpr || canvas.height !== height * dpr) {
      canvas.width = width * dpr;
      canvas.height = height * dpr;
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const pad = { left: 52, right: 10, top: 8, bottom: 22 };
    const w = width - pad.left - pad.right;
    const h = height - pad.top - pad.bottom;
    const tMax = times.length ? times[times.length - 1] : Date.now();
    const tMin = tMax - HISTORY * POLL_MS;
    let yMax = 0;
    for (const s of series) for (const v of s.values) if (v !== null && v > yMax) yMax = v;
    yMax = options.integer ? Math.max(1, Math.ceil(yMax)) : niceMax(yMax * 1.1);
    const x = (t) => pad.left + ((t - tMin) / (tMax - tMin)) * w;
    const y = (v) => pad.top + h - (v / yMax) * h;

    // Grid and labels.
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = color("muted");
    ctx.strokeStyle = color("line");
    ctx.lineWidth = 1;
    const ticks = options.integer ? Math.min(yMax, 4) : 4;
    for (let i = 0; i <= ticks; i++) {
      const v = (yMax * i) / ticks;
      const py = Math.round(y(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(pad.left, py);
      ctx.lineTo(pad.left + w, py);
      ctx.stroke();
      ctx.textAlign = "right";
      ctx.textBaseline = "middle";
      if (!options.empty) ctx.fillText(options.format(v), pad.left - 6, py);
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (let minutes = 0; minutes <= 5; minutes++) {
      const t = tMax - minutes * 60000;
      ctx.fillText(minutes === 0 ? "now" : "-" + minutes + "m", Math.min(x(t), pad.left + w - 12), pad.top + h + 6);
    }

    if (options.empty) {
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText(options.empty, pad.left + w / 2, pad.top + h / 2);
      return;
    }

    // Markers.
    ctx.save();
    ctx.setLineDash([4, 3]);
    ctx.strokeStyle = color("marker");
    ctx.fillStyle = color("marker");
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    for (const m of options.markers || []) {
      if (m.t < tMin || m.t > tMax) continue;
      const px = Math.round(x(m.t)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(px, pad.top);
      ctx.lineTo(px, pad.top + h);
      ctx.stroke();
      ctx.fillText(m.label, px + 3, pad.top);
    }
    ctx.restore();

    // Lines (a gap where a value is unknown).
    for (const s of series) {
      ctx.strokeStyle = s.color;
      ctx.lineWidth = 2;
      ctx.beginPath();
      let drawing = false;
      let first = null;
      let last = null;
      s.values.forEach((v, i) => {
        if (v === null || times[i] < tMin) {
          drawing = false;
          return;
        }
        const px = x(times[i]);
        const py = y(v);
        if (drawing) ctx.lineTo(px, py);
        else ctx.moveTo(px, py);
        drawing = true;
        if (first === null) first = px;
        last = px;
      });
      ctx.stroke();
      if (s.fill && first !== null) {
        ctx.lineTo(last, y(0));
        ctx.lineTo(first, y(0));
        ctx.closePath();
        ctx.globalAlpha = 0.12;
        ctx.fillStyle = s.color;
        ctx.fill();
        ctx.globalAlpha = 1;
      }
    }
  }

  function draw() {
    const times = state.history.map((s) => s.t);
    const pick = (key) => state.history.map((s) => s[key]);
    drawChart($("chart-rps"), times, [
      { values: pick("rps"), color: color("requests"), fill: true },
      { values: pick("fps"), color: color("errors") },
    ], { format: fmtRate });
    const hasLatency = state.history.some((s) => s.p50 !== null || s.p99 !== null);
    $("latency-note").hidden = hasLatency;
    drawChart($("chart-latency"), times, [
      { values: pick("p50"), color: color("requests") },
      { values: pick("p99"), color: color("errors") },
    ], {
      format: (v) => fmtRate(v) + "ms",
      empty: hasLatency ? null : "no latency data from the admin API yet",
    });
    drawChart($("chart-backends"), times, [
      { values: pick("total"), color: color("total") },
      { values: pick("eligible"), color: color("eligible"), fill: true },
    ], { format: (v) => String(Math.round(v)), integer: true, markers: state.markers });
  }

  // ---- start -------------------------------------------------------------------------------
  function start() {
    setText($("interval"), POLL_MS / 1000);
    $("reload").addEventListener("click", reloadConfig);
    $("forget-token").addEventListener("click", () => {
      state.token = null;
      sessionStorage.removeItem(TOKEN_KEY);
      $("forget-token").hidden = true;
      askForToken("");
    });
    $("forget-token").hidden = !state.token;
    $("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const token = $("token-input").value.trim();
      $("token-input").value = "";
      if (token) useToken(token);
    });
    window.addEventListener("resize", draw);
    startPolling();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
