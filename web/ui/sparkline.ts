/**
 * `<lm-sparkline>`: a small SVG line of recent values with the latest one as text —
 * cpu, memory and calls per second on the device cards and the kiosk.
 */
import { css, html, LitElement, svg } from 'lit';

/** A labelled sparkline; `max` 0 scales to the largest value shown. */
export class Sparkline extends LitElement {
  static override properties = {
    values: { attribute: false },
    label: {},
    max: { type: Number },
    unit: {},
  };
  static override styles = css`
    :host { display: inline-flex; flex-direction: column; font-size: 0.75rem; color: #94a3b8; min-width: 5.5rem; }
    svg { width: 100%; height: 1.8rem; }
    polyline { fill: none; stroke: #38bdf8; stroke-width: 1.5; vector-effect: non-scaling-stroke; }
    .value { color: #e2e8f0; }
  `;
  declare values: number[];
  declare label: string;
  declare max: number;
  declare unit: string;

  constructor() {
    super();
    this.values = [];
    this.label = '';
    this.max = 1;
    this.unit = '%';
  }

  override render() {
    const values = this.values.length > 0 ? this.values : [0];
    const top = this.max > 0 ? this.max : Math.max(1, ...values);
    const step = values.length > 1 ? 100 / (values.length - 1) : 100;
    const points = values.map((v, i) => `${(i * step).toFixed(1)},${(30 - Math.min(1, Math.max(0, v / top)) * 28 - 1).toFixed(1)}`).join(' ');
    const last = values[values.length - 1] ?? 0;
    const text = this.unit === '%' ? `${Math.round(last * 100)}%` : `${last.toFixed(1)}${this.unit ? ` ${this.unit}` : ''}`;
    return html`<span>${this.label} <span class="value">${text}</span></span>
      <svg part="svg" viewBox="0 0 100 30" preserveAspectRatio="none" role="img" aria-label="${this.label} ${text}">${svg`<polyline points=${values.length > 1 ? points : `0,${points.split(',')[1]} 100,${points.split(',')[1]}`}></polyline>`}</svg>`;
  }
}
if (!customElements.get('lm-sparkline')) customElements.define('lm-sparkline', Sparkline);
