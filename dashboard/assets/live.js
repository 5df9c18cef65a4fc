/* Clientside half of the live pages: spread a tick model over the page's cells and extend
   its strip charts in place. The server sends formatted text and one-letter states; the
   words that go with each state live here so colour is never the only signal. */
(function () {
  const BADGE = {n: "", w: "▲ WARN", c: "✖ CRIT", s: "◌ STALE", u: ""};
  const TILE_BADGE = {n: "● OK", w: "▲ WARNING", c: "✖ CRITICAL", s: "◌ STALE", u: "— NO DATA"};
  const STATE_CLASS = /\bkz-[nwcsup]\b/g;
  const lastX = new WeakMap();  // figure -> last x per trace, so a sample is drawn once

  function each(list, fn) {
    const nu = window.dash_clientside.no_update;
    return list.map(function (o, i) { const r = fn(o, i); return r === undefined ? nu : r; });
  }

  // Only what changed goes back to Dash: each updated prop costs the renderer a dispatch,
  // and a satellite page holds several hundred cells.
  function cells(model, texts, classes, badges) {
    const ctx = window.dash_clientside.callback_context;
    const outs = ctx.outputs_list;
    const nu = window.dash_clientside.no_update;
    if (!model || !model.cells) {
      return outs.map(function (list) { return list.map(function () { return nu; }); });
    }
    const c = model.cells;
    const changed = function (now, next) { return next === now ? undefined : next; };
    const text = each(outs[0], function (o, i) {
      const e = c[o.id.key];
      return e ? changed(texts[i], e[0]) : undefined;
    });
    const cls = each(outs[1], function (o, i) {
      const e = c[o.id.key];
      if (!e) return undefined;
      const base = (classes[i] || "").replace(STATE_CLASS, "").trim();
      return changed(classes[i], base + " kz-" + e[1]);
    });
    const badge = each(outs[2], function (o, i) {
      const e = c[o.id.key];
      if (!e) return undefined;
      return changed(badges[i], (o.id.key.startsWith("tile|") ? TILE_BADGE : BADGE)[e[1]]);
    });
    return [text, cls, badge];
  }

  function down(model, frameClass) {
    const nu = window.dash_clientside.no_update;
    if (!model) return [nu, nu, nu];
    const base = (frameClass || "").replace(/\bkz-frozen\b/g, "").trim();
    if (model.down) return [model.down, false, base + " kz-frozen"];
    return ["", true, base];
  }

  function extend(model, figures) {
    const outs = window.dash_clientside.callback_context.outputs_list;
    const nu = window.dash_clientside.no_update;
    if (!model || !model.cells) return outs.map(function () { return nu; });
    return figures.map(function (fig) {
      if (!fig || !fig.data || !fig.data.length) return nu;
      let last = lastX.get(fig);
      if (!last) {
        last = fig.data.map(function (t) { return t.x && t.x.length ? t.x[t.x.length - 1] : ""; });
        lastX.set(fig, last);
      }
      const xs = [], ys = [], idx = [], maxp = [];
      fig.data.forEach(function (trace, i) {
        const meta = trace.meta;
        if (!meta) return;
        const e = model.cells[meta[0]];
        if (!e || e.length < 4) return;
        const t = model.times[e[2]];
        if (!(t > last[i])) return;  // ISO times in one format compare as strings
        last[i] = t;
        xs.push([t]); ys.push([e[3]]); idx.push(i); maxp.push(meta[1]);
      });
      if (!idx.length) return nu;
      return [{x: xs, y: ys}, idx, {x: maxp, y: maxp}];
    });
  }

  function clock() {
    const d = new Date().toISOString();
    return d.slice(0, 10) + "  " + d.slice(11, 19) + " UTC";
  }

  function nav(pathname, hrefs) {
    return hrefs.map(function (h) {
      const here = h === "/" ? pathname === "/" : (pathname || "").startsWith(h);
      return "kz-nav-link" + (here ? " kz-here" : "");
    });
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    kazsat: {cells: cells, down: down, extend: extend, clock: clock, nav: nav},
  });
})();
