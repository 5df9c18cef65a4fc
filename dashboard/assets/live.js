/* Clientside half of the live pages: spread a tick model over the page's cells and extend
   its strip charts in place. The server sends formatted text and one-letter states; the
   words that go with each state live here so colour is never the only signal. Models come
   by push from the page's live stream (dashboard/stream.py), or, while it cannot be had,
   from the 1 s tick. */
(function () {
  const BADGE = {n: "", w: "▲ WARN", c: "✖ CRIT", s: "◌ STALE", u: ""};
  const TILE_BADGE = {n: "● OK", w: "▲ WARNING", c: "✖ CRITICAL", s: "◌ STALE", u: "— NO DATA"};
  const STATE_CLASS = /\bkz-[nwcsup]\b/g;
  // figure.data -> last x per trace, so a sample is drawn once. Keyed by the traces, not
  // the figure: a Patch of the layout (limit lines, alert markers) makes a new figure
  // object around the same traces, which must not forget what they hold.
  const lastX = new WeakMap();

  function each(list, fn) {
    const nu = window.dash_clientside.no_update;
    return list.map(function (o, i) { const r = fn(o, i); return r === undefined ? nu : r; });
  }

  // The cells are written straight into the DOM nodes Dash created, not returned as
  // pattern-matched outputs: Dash's renderer spends milliseconds per matched prop, and a
  // satellite page holds several hundred cells (measured: the main thread was 85 % busy).
  // React never sees a changed prop for these nodes, so it never writes over them.
  function idOf(kind, page, key) {
    return JSON.stringify({key: key, kz: kind, page: page});  // Dash's sorted-key form
  }

  function applyCells(page, c) {
    Object.keys(c).forEach(function (key) {
      const e = c[key];
      const v = document.getElementById(idOf("v", page, key));
      if (v && v.textContent !== e[0]) v.textContent = e[0];
      const box = document.getElementById(idOf("vc", page, key));
      if (box) {
        const cls = box.className.replace(STATE_CLASS, "").trim() + " kz-" + e[1];
        if (box.className !== cls) box.className = cls;
      }
      const b = document.getElementById(idOf("vb", page, key));
      if (b) {
        const text = (key.startsWith("tile|") ? TILE_BADGE : BADGE)[e[1]] || "";
        if (b.textContent !== text) b.textContent = text;
      }
    });
  }

  // The not-live watchdog. A live page is live while ticks bring fresh models; when none
  // has come for STALE_MS (the API hung, slow, refused or failing, or the dashboard server
  // itself gone), or the server says the API is unreachable, the page says so and since
  // when, greys its values and hides "ALL NOMINAL" (theme.css, [data-kz-live=no]). This
  // runs on a plain timer in the page, so it needs no answer from any server; the next
  // fresh tick makes the page live again. Its state is kept on the frame element, so a
  // page opened anew starts fresh. Replay frames (.kz-replay) show the past on purpose.
  const STALE_MS = 4000;  // four ticks missed; with the 250 ms check, said within 5 s

  function frameOf(page) { return document.getElementById(idOf("frame", page, "f")); }

  function hhmmss(ms) { return new Date(ms).toISOString().slice(11, 19) + " UTC"; }

  function paint(frame) {
    if (frame.kzFresh === undefined) frame.kzFresh = Date.now();  // first seen: just drawn
    const page = JSON.parse(frame.id).page;
    const silent = Date.now() - frame.kzFresh;
    const watched = !frame.classList.contains("kz-replay");
    let text = "";
    if (frame.kzDown) {
      text = frame.kzDown;
    } else if (watched && silent > STALE_MS) {
      text = "NOT LIVE — no fresh telemetry since " + hhmmss(frame.kzFresh) + " (" +
        Math.floor(silent / 1000) + " s); the values shown are the last received. " +
        "Reconnecting by itself.";
    }
    const live = text ? "no" : "yes";
    if (frame.dataset.kzLive !== live) frame.dataset.kzLive = live;
    const notice = document.getElementById(idOf("down", page, "notice"));
    if (notice) {
      if (notice.textContent !== text) notice.textContent = text;
      if (notice.hidden !== !text) notice.hidden = !text;
    }
  }

  setInterval(function () {
    document.querySelectorAll(".kz-frame").forEach(paint);
  }, 250);

  // The tick timer passed on to the server's tick callback only while none of this page's
  // ticks is in flight (or the one in flight is RESEND_MS old: its answer is lost). Dash
  // runs render only when no tick is pending; ticks fired every second regardless would,
  // once a tick takes longer than that, keep one pending always and render never.
  const RESEND_MS = 5000;

  function gate(n) {
    const out = window.dash_clientside.callback_context.outputs_list;
    const frame = frameOf((Array.isArray(out) ? out[0] : out).id.page);
    const now = Date.now();
    if (frame && frame.dataset.kzMode === "stream") return window.dash_clientside.no_update;
    if (frame && frame.kzSent && now - frame.kzSent < RESEND_MS) {
      return window.dash_clientside.no_update;
    }
    if (frame) frame.kzSent = now;
    return n || 0;
  }

  // A tick's model: its cells, and whether it is fresh (the API answered) or says the API
  // is unreachable. The notice and frame are written by paint(), never through Dash, so
  // the watchdog and the ticks cannot overwrite each other; the Dash output is unused.
  function render(model) {
    const nu = window.dash_clientside.no_update;
    const out = window.dash_clientside.callback_context.outputs_list;
    const page = (Array.isArray(out) ? out[0] : out).id.page;
    const frame = frameOf(page);
    if (!model || !frame) return nu;
    frame.kzSent = 0;  // the tick in flight has answered: the next may go
    draw(frame, page, model);
    return nu;
  }

  function draw(frame, page, model) {
    if (model.down) {
      frame.kzDown = model.down;
    } else if (model.cells) {
      applyCells(page, model.cells);
      frame.kzFresh = Date.now();
      frame.kzDown = null;
    }
    paint(frame);
  }

  // Cells of a second set on a page (replay's satellite tables), from their own model.
  function cells(model) {
    const out = window.dash_clientside.callback_context.outputs_list;
    const page = (Array.isArray(out) ? out[0] : out).id.page;
    if (model && model.cells) applyCells(page, model.cells);
    return window.dash_clientside.no_update;
  }

  // Strip charts take their new points every EXTEND_EVERY ticks, not every second: each
  // extendData redraws a whole figure, and a satellite page holds six of them (measured
  // with benchmarks/dashboard.py). Points are kept meanwhile, so none is lost.
  const EXTEND_EVERY = 5;
  const pending = new WeakMap();  // figure.data -> {trace index: [xs, ys]} not drawn yet
  let extendTicks = 0;

  function extend(model, figures) {
    const outs = window.dash_clientside.callback_context.outputs_list;
    const nu = window.dash_clientside.no_update;
    if (!model || !model.cells) return outs.map(function () { return nu; });
    return extendWith([model], figures, (++extendTicks % EXTEND_EVERY) === 0);
  }

  // On the tick timer, while the page is fed by its stream: the points its models brought
  // since (queued by the stream), drawn every EXTEND_EVERY seconds.
  const queued = {};  // page -> models from the stream not yet given to the charts
  let streamTicks = 0;

  function streamExtend(n, figures) {
    const outs = window.dash_clientside.callback_context.outputs_list;
    const nu = window.dash_clientside.no_update;
    const page = outs.length ? outs[0].id.page : "";
    const models = queued[page] || [];
    queued[page] = [];
    if (!models.length) return outs.map(function () { return nu; });
    return extendWith(models, figures, (++streamTicks % EXTEND_EVERY) === 0);
  }

  function extendWith(models, figures, flush) {
    const nu = window.dash_clientside.no_update;
    return figures.map(function (fig) {
      if (!fig || !fig.data || !fig.data.length) return nu;
      let last = lastX.get(fig.data);
      if (!last) {
        last = fig.data.map(function (t) { return t.x && t.x.length ? t.x[t.x.length - 1] : ""; });
        lastX.set(fig.data, last);
        pending.set(fig.data, {});
      }
      const held = pending.get(fig.data);
      models.forEach(function (model) {
        fig.data.forEach(function (trace, i) {
          const meta = trace.meta;
          if (!meta) return;
          const e = model.cells[meta[0]];
          if (!e || e.length < 4) return;
          const t = model.times[e[2]];
          if (!(t > last[i])) return;  // ISO times in one format compare as strings
          last[i] = t;
          const h = held[i] || (held[i] = [[], []]);
          h[0].push(t); h[1].push(e[3]);
        });
      });
      if (!flush) return nu;
      const xs = [], ys = [], idx = [], maxp = [];
      Object.keys(held).forEach(function (k) {
        const i = Number(k);
        xs.push(held[k][0]); ys.push(held[k][1]); idx.push(i); maxp.push(fig.data[i].meta[1]);
      });
      pending.set(fig.data, {});
      if (!idx.length) return nu;
      return [{x: xs, y: ys}, idx, {x: maxp, y: maxp}];
    });
  }

  // Live by push. Each live frame holds a WebSocket on its page's stream (a WebSocket, not
  // an EventSource: event streams would hold the six connections a browser gives a site, for
  // all its tabs). The models it brings (only the cells that changed) are drawn at once as a
  // tick's (draw), and their chart points queued for the tick timer (streamExtend): not
  // through Dash's props, whose every change from outside a callback re-resolves the
  // page's callbacks (measured: seconds per model on a satellite page). data-kz-mode says
  // how the page is fed: "stream", or "poll" until the stream opens, while it is broken
  // (reopened after REOPEN_MS), and for RETRY_MS after the server said it has no stream to
  // give (past the API's limits). A stream that says the session ended sends the page to the
  // login page.
  const REOPEN_MS = 2000;
  const RETRY_MS = 15000;
  const SIGN_IN = 4401;  // close codes of dashboard/stream.py
  const streamed = new Set();

  function toLogin() {
    const here = window.location.pathname + window.location.search;
    window.location.assign("/login?expired=1&next=" + encodeURIComponent(here));
  }

  function openStream(frame) {
    const page = JSON.parse(frame.id).page;
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + window.location.host + "/live/stream?path=" +
                             encodeURIComponent(window.location.pathname));
    frame.kzStream = ws;
    frame.kzPath = window.location.pathname;
    streamed.add(frame);
    ws.onopen = function () { frame.dataset.kzMode = "stream"; };
    ws.onmessage = function (m) {
      const msg = JSON.parse(m.data);
      if (msg.event === "model") {
        frame.dataset.kzMode = "stream";
        const model = unnumbered(ws, msg.data);
        draw(frame, page, model);
        if (model.cells && frame.querySelector(".kz-chart")) {
          const q = queued[page] || (queued[page] = []);
          q.push(model);
          if (q.length > 600) q.shift();  // charts not drawing (a hidden tab): keep the last
        }
      } else if (msg.event === "fallback") {
        closeStream(frame, RETRY_MS);
      } else if (msg.event === "session") {
        closeStream(frame, RETRY_MS);
        toLogin();
      }
    };
    ws.onclose = function (e) {
      if (frame.kzStream !== ws) return;  // closed here on purpose
      closeStream(frame, e.code >= 4000 ? RETRY_MS : REOPEN_MS);
      if (e.code === SIGN_IN) toLogin();
    };
  }

  // A streamed model names its cells by number (dashboard/stream.py PageView.numbered):
  // back to a tick's {cells: {key: entry}, times}.
  function unnumbered(ws, m) {
    if (!m.c) return m;  // the API notice
    const keys = ws.kzKeys || (ws.kzKeys = {});
    if (m.k) Object.assign(keys, m.k);
    const cells = {};
    m.c.forEach(function (e) { cells[keys[e[0]]] = e.slice(1); });
    return {cells: cells, times: m.times || []};
  }

  function closeStream(frame, retryMs) {
    const ws = frame.kzStream;
    frame.kzStream = null;
    if (ws) ws.close();
    frame.kzRetry = Date.now() + (retryMs || 0);
    frame.dataset.kzMode = "poll";
    streamed.delete(frame);
  }

  function keepStreams() {
    streamed.forEach(function (f) {
      if (!f.isConnected || f.kzPath !== window.location.pathname) closeStream(f);
    });
    if (!window.WebSocket) return;
    document.querySelectorAll(".kz-frame").forEach(function (f) {
      if (f.classList.contains("kz-replay") || f.kzStream) return;
      if (f.kzRetry && Date.now() < f.kzRetry) return;
      openStream(f);
    });
  }

  setInterval(keepStreams, 250);

  // The UTC clock ticks in plain JS: a Dash update would notify every component each second.
  setInterval(function () {
    const el = document.getElementById("kz-clock");
    const d = new Date().toISOString();
    if (el) el.textContent = d.slice(0, 10) + "  " + d.slice(11, 19) + " UTC";
  }, 250);

  function nav(pathname, hrefs) {
    return hrefs.map(function (h) {
      const here = h === "/" ? pathname === "/" : (pathname || "").startsWith(h);
      return "kz-nav-link" + (here ? " kz-here" : "");
    });
  }

  // The replay page's download link (dashboard/download.py) from its choices. Built here:
  // the replay state changes at every step of playback, and the link needs no server.
  function exportHref(keys, state, resolution, format) {
    if (!keys || !keys.length || !state) return [null, "kz-button kz-download kz-off"];
    const q = new URLSearchParams();
    keys.forEach(function (k) { q.append("series", k); });
    q.append("start", state.start);
    q.append("end", state.end);
    q.append("resolution", resolution || "raw");
    q.append("format", format || "csv");
    return ["/download/export?" + q.toString(), "kz-button kz-download"];
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    kazsat: {gate: gate, render: render, extend: extend, streamExtend: streamExtend, nav: nav,
             cells: cells, exportHref: exportHref},
  });
})();
