/**
 * Styles every view shares: the dark palette, cards, chips, buttons, forms, badges and
 * the error and notice boxes. Views add only their layout on top. Down to 360 px wide
 * nothing makes the page scroll sideways: long names and ids wrap, a table scrolls inside
 * its own box (or, with `stack-narrow`, becomes one card per row with each cell labelled
 * by its `data-label`), and on touch screens every control is at least 44 px high.
 */
import { css } from 'lit';

/** Base styles of every view (adopted into each shadow root). */
export const shared = css`
  :host { display: block; color: #e2e8f0; font: 15px/1.4 system-ui, sans-serif; }
  h2 { font-size: 1.1rem; margin: 0 0 0.75rem; }
  h3 { font-size: 1rem; margin: 0 0 0.5rem; }
  .muted { color: #94a3b8; }
  .small { font-size: 0.8rem; }
  code, .mono { font: 0.8rem/1.3 ui-monospace, monospace; color: #cbd5e1; }
  .card { background: #1e293b; border-radius: 0.6rem; padding: 0.8rem; border: 1px solid #334155; }
  .grid { display: grid; gap: 0.75rem; grid-template-columns: repeat(auto-fill, minmax(min(18rem, 100%), 1fr)); }
  .grid > *, .row > * { min-width: 0; }
  .card { overflow-wrap: anywhere; }
  .row { display: flex; gap: 0.5rem; align-items: center; flex-wrap: wrap; }
  .stack > * + * { margin-top: 0.6rem; }
  .chip { display: inline-flex; align-items: center; gap: 0.3rem; background: #334155; border-radius: 999px; padding: 0.1rem 0.6rem; font-size: 0.8rem; }
  .badge { display: inline-block; border-radius: 0.3rem; padding: 0 0.4rem; font-size: 0.75rem; background: #334155; }
  .badge.ready, .badge.connected, .badge.accepted { background: #166534; }
  .badge.deploying, .badge.fetching, .badge.loading, .badge.resolving, .badge.connecting { background: #854d0e; }
  .badge.failed, .badge.unreachable, .badge.rejected { background: #991b1b; }
  .badge.rolled-back { background: #9a3412; }
  button, select, input, textarea { font: inherit; color: inherit; background: #0f172a; border: 1px solid #475569; border-radius: 0.4rem; padding: 0.3rem 0.6rem; }
  button { cursor: pointer; background: #2563eb; border-color: #2563eb; }
  button.secondary { background: #1e293b; border-color: #475569; }
  button.danger { background: #b91c1c; border-color: #b91c1c; }
  button:disabled { opacity: 0.5; cursor: default; }
  button:focus-visible, select:focus-visible, input:focus-visible, [tabindex]:focus-visible { outline: 2px solid #38bdf8; outline-offset: 1px; }
  label { display: inline-flex; gap: 0.35rem; align-items: center; flex-wrap: wrap; max-width: 100%; }
  input, textarea { max-width: 100%; min-width: 0; }
  table { border-collapse: collapse; width: 100%; font-size: 0.85rem; }
  th, td { text-align: left; padding: 0.25rem 0.4rem; border-bottom: 1px solid #334155; vertical-align: top; }
  td { overflow-wrap: break-word; }
  select { max-width: 100%; }
  @media (max-width: 600px) {
    table { display: block; max-width: 100%; overflow-x: auto; }
    table.stack-narrow, table.stack-narrow tbody, table.stack-narrow tr, table.stack-narrow td { display: block; width: auto; }
    table.stack-narrow tr:has(th) { display: none; }
    table.stack-narrow tr { border-bottom: 1px solid #334155; padding: 0.3rem 0; }
    table.stack-narrow td { border: none; padding: 0.1rem 0.2rem; }
    table.stack-narrow td[data-label]::before { content: attr(data-label) ': '; color: #94a3b8; }
  }
  @media (pointer: coarse), (max-width: 480px) {
    button, select, input:not([type=checkbox]):not([type=radio]) { min-height: 44px; }
    input[type=checkbox], input[type=radio] { width: 1.4rem; height: 1.4rem; }
    label { min-height: 44px; }
  }
  .error { background: #450a0a; border: 1px solid #b91c1c; color: #fecaca; border-radius: 0.4rem; padding: 0.5rem 0.7rem; white-space: pre-wrap; }
  .notice { background: #172554; border: 1px solid #1d4ed8; border-radius: 0.4rem; padding: 0.5rem 0.7rem; }
  .ok { color: #86efac; }
  .empty { color: #94a3b8; font-style: italic; }
  progress { width: 100%; height: 0.6rem; accent-color: #38bdf8; }
  .dot { display: inline-block; width: 0.6rem; height: 0.6rem; border-radius: 50%; background: #64748b; }
  .dot.alive { background: #22c55e; }
`;
