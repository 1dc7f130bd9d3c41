/**
 * The dashboard's stylesheet, served at `/ui/app.css`. Colours follow the system's light or dark
 * setting; the layout collapses to one column on narrow screens.
 * @module
 */

/** The whole stylesheet. */
export const CSS = `
:root {
  color-scheme: light dark;
  --bg: #f6f7f9; --panel: #fff; --fg: #1b1f24; --muted: #5b6470; --border: #d9dde3;
  --accent: #2f6fde; --accent-fg: #fff; --focus: #2f6fde;
  --ok: #1a7f37; --bad: #c62828; --warn: #9a6700; --run: #2f6fde; --wait: #6e7781;
  --log-bg: #0f1419; --log-fg: #d6dde6; --log-err: #ff8f8f; --log-err-bg: rgba(255,80,80,.08);
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --panel: #161b22; --fg: #e6edf3; --muted: #8d96a0; --border: #30363d;
    --accent: #4c8dff; --focus: #79b8ff;
    --ok: #3fb950; --bad: #f85149; --warn: #d29922; --run: #58a6ff; --wait: #8d96a0;
    --log-bg: #010409;
  }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
a { color: var(--accent); }
:focus-visible { outline: 2px solid var(--focus); outline-offset: 2px; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 8px; top: 8px; background: var(--panel); padding: 6px 10px; z-index: 10; }
header.top { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 18px;
  padding: 10px 18px; background: var(--panel); border-bottom: 1px solid var(--border); }
header.top .brand { font-weight: 700; font-size: 17px; color: var(--fg); text-decoration: none; }
header.top nav { display: flex; flex-wrap: wrap; gap: 2px; }
header.top nav a { padding: 6px 10px; border-radius: 6px; text-decoration: none; color: var(--muted); }
header.top nav a[aria-current="page"] { color: var(--fg); background: var(--bg); font-weight: 600; }
header.top .spacer { flex: 1; }
main { max-width: 1200px; margin: 0 auto; padding: 18px; }
h1 { font-size: 22px; margin: 0 0 14px; display: flex; flex-wrap: wrap; gap: 10px; align-items: center; }
h2 { font-size: 16px; margin: 22px 0 10px; }
.panel { background: var(--panel); border: 1px solid var(--border); border-radius: 8px; padding: 14px; }
.muted { color: var(--muted); }
.mono, code, pre { font-family: var(--mono); font-size: 13px; }
.grid { display: grid; gap: 12px; grid-template-columns: repeat(auto-fill, minmax(124px, 1fr)); }
.split { display: grid; gap: 12px; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr));
  margin-bottom: 14px; }
.cards { display: grid; gap: 12px; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); }
.stat { display: block; text-decoration: none; color: var(--fg); }
.stat .n { font-size: 26px; font-weight: 650; font-variant-numeric: tabular-nums; }
.stat .l { color: var(--muted); font-size: 13px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px;
  font-weight: 600; border: 1px solid currentColor; white-space: nowrap; }
.s-succeeded, .s-idle, .s-active { color: var(--ok); }
.s-failed, .s-timed_out, .s-lost { color: var(--bad); }
.s-cancelled, .s-draining, .s-paused { color: var(--warn); }
.s-running, .s-assigned, .s-busy { color: var(--run); }
.s-waiting, .s-queued, .s-scheduled, .s-disconnected, .s-skipped { color: var(--wait); }
.live { font-size: 12px; color: var(--muted); display: inline-flex; gap: 6px; align-items: center; }
.live::before { content: ""; width: 8px; height: 8px; border-radius: 50%; background: var(--wait); }
.live[data-status="live"]::before { background: var(--ok); }
.live[data-status="offline"]::before { background: var(--bad); }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 7px 8px; border-bottom: 1px solid var(--border); vertical-align: top; }
th { font-size: 12px; color: var(--muted); font-weight: 600; text-transform: uppercase; letter-spacing: .03em; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.cmd { font-family: var(--mono); font-size: 13px; max-width: 420px; overflow: hidden;
  text-overflow: ellipsis; white-space: nowrap; }
.reason { font-size: 12px; color: var(--muted); }
.nowrap, ol.fires li { white-space: nowrap; }
ol.fires { list-style: none; margin: 0; padding: 0; }
ol.fires time, td[data-last-fire] time { font-variant-numeric: tabular-nums; }
.table-wrap { overflow-x: auto; }
button, .button { font: inherit; padding: 6px 12px; border-radius: 6px; border: 1px solid var(--border);
  background: var(--panel); color: var(--fg); cursor: pointer; text-decoration: none; display: inline-block; }
button.primary, .button.primary { background: var(--accent); color: var(--accent-fg); border-color: var(--accent); }
button.danger { color: var(--bad); border-color: var(--bad); }
button:disabled { opacity: .55; cursor: default; }
.actions { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
form.filters { display: flex; flex-wrap: wrap; gap: 8px; align-items: end; margin-bottom: 12px; }
label { display: flex; flex-direction: column; gap: 3px; font-size: 13px; color: var(--muted); }
input, select, textarea { font: inherit; color: var(--fg); background: var(--bg); border: 1px solid var(--border);
  border-radius: 6px; padding: 6px 8px; min-width: 0; }
textarea { font-family: var(--mono); font-size: 13px; width: 100%; }
fieldset { border: 1px solid var(--border); border-radius: 8px; margin: 0 0 12px; padding: 10px 12px; }
legend { font-size: 13px; color: var(--muted); padding: 0 4px; }
.form-grid { display: grid; gap: 12px; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); }
.radios { display: flex; gap: 14px; flex-wrap: wrap; }
.radios label { flex-direction: row; align-items: center; color: var(--fg); font-size: 15px; }
.error { color: var(--bad); background: var(--log-err-bg); border: 1px solid var(--bad);
  border-radius: 6px; padding: 8px 10px; margin: 8px 0; }
.pager { display: flex; gap: 10px; margin-top: 12px; }
.kv { display: grid; grid-template-columns: max-content 1fr; gap: 4px 14px; margin: 0; }
.kv dt { color: var(--muted); font-size: 13px; }
.kv dd { margin: 0; }
.labels { display: flex; flex-wrap: wrap; gap: 4px; }
.tag { font-family: var(--mono); font-size: 12px; padding: 1px 6px; border-radius: 4px; background: var(--bg);
  border: 1px solid var(--border); }
.bar { height: 8px; border-radius: 4px; background: var(--bg); border: 1px solid var(--border); overflow: hidden; }
.bar > span { display: block; height: 100%; background: var(--run); }
.progress { display: flex; height: 12px; margin: 8px 0; border-radius: 4px; overflow: hidden;
  background: var(--bg); border: 1px solid var(--border); }
.p-succeeded { background: var(--ok); } .p-failed { background: var(--bad); }
.p-cancelled { background: var(--warn); } .p-running { background: var(--run); }
.p-queued { background: var(--wait); opacity: .45; }
.uptime-pcts { display: flex; flex-wrap: wrap; gap: 2px 12px; font-variant-numeric: tabular-nums; }
/* Stretches too short to see keep 2px; the old end gives way, so the newest stays in view. */
.timeline { display: flex; justify-content: flex-end; height: 10px; margin-top: 4px;
  border-radius: 3px; overflow: hidden; background: var(--bg); border: 1px solid var(--border); }
.timeline > span { flex: 0 1 auto; min-width: 2px; }
.timeline .seg-up { background: var(--ok); }
.timeline .seg-down { background: var(--bad); }
.timeline .seg-unknown { background: transparent; min-width: 0; }
.agent h3 { margin: 0; font-size: 16px; display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
.agent .kv { margin: 10px 0; }
.chart svg { width: 100%; height: 160px; display: block; }
.chart .ok { fill: var(--ok); }
.chart .bad { fill: var(--bad); }
.chart .depth { fill: none; stroke: var(--warn); stroke-width: 2; }
.chart .axis { stroke: var(--border); }
.legend { display: flex; gap: 14px; font-size: 12px; color: var(--muted); flex-wrap: wrap; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; border-radius: 2px; }
.log-tools { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin-bottom: 8px; }
pre.log { background: var(--log-bg); color: var(--log-fg); padding: 10px 12px; border-radius: 8px;
  margin: 0; max-height: 65vh; min-height: 120px; overflow: auto; white-space: pre-wrap; word-break: break-word; }
pre.log .err { color: var(--log-err); background: var(--log-err-bg); }
pre.log .marker { color: #8d96a0; font-style: italic; }
pre.log.only-stdout .err, pre.log.only-stderr .out { display: none; }
.a-b { font-weight: 700; } .a-d { opacity: .7; } .a-i { font-style: italic; } .a-u { text-decoration: underline; }
.f0{color:#4d4d4d}.f1{color:#ff6b6b}.f2{color:#5fd068}.f3{color:#e6c84d}.f4{color:#6ea8ff}.f5{color:#d68bff}.f6{color:#4dd0e1}.f7{color:#d6dde6}
.f8{color:#8d96a0}.f9{color:#ff8f8f}.f10{color:#8ef09a}.f11{color:#ffe36e}.f12{color:#9cc3ff}.f13{color:#e6a8ff}.f14{color:#84e8f4}.f15{color:#fff}
.b0{background:#4d4d4d}.b1{background:#a33}.b2{background:#285}.b3{background:#a80}.b4{background:#246}.b5{background:#737}.b6{background:#277}.b7{background:#bbb}
.b8{background:#666}.b9{background:#c55}.b10{background:#3a6}.b11{background:#cb4}.b12{background:#468}.b13{background:#a5a}.b14{background:#4aa}.b15{background:#ddd}
@media (max-width: 700px) {
  main { padding: 12px; }
  table.jobs thead { display: none; }
  table.jobs tr { display: grid; grid-template-columns: auto 1fr auto; gap: 2px 8px; padding: 8px 0;
    border-bottom: 1px solid var(--border); }
  table.jobs td { border: 0; padding: 0; }
  table.jobs td.cmd { grid-column: 1 / -1; max-width: none; }
  table.jobs td.hide-sm { display: none; }
  table.schedules thead { display: none; }
  table.schedules tr { display: block; padding: 8px 0; border-bottom: 1px solid var(--border); }
  table.schedules td { display: flex; gap: 10px; border: 0; padding: 2px 0; }
  table.schedules td[data-label]::before { content: attr(data-label); flex: 0 0 84px;
    color: var(--muted); font-size: 13px; }
}
`;
