/**
 * `<lm-insecure-view>`: shown instead of the app when the page cannot host modules —
 * opened over plain HTTP from another machine, or served without cross-origin isolation
 * (web/insecure-arrival.ts). It says exactly that, and what to do: trust the mesh's
 * certificate from its certificate page (the join URL's `trust` parameter), then open the
 * HTTPS page. It never claims the device is offline.
 */
import { css, html, LitElement, nothing } from 'lit';
import type { InsecureArrival } from '../insecure-arrival.ts';
import { shared } from './styles.ts';
import { trustStepsList } from './trust-steps.ts';

/** What to do on a page that cannot host modules. */
export class InsecureView extends LitElement {
  static override properties = { arrival: { attribute: false } };
  static override styles = [
    shared,
    css`
      :host { padding: 1rem 1.25rem; max-width: 40rem; }
      a { color: #7dd3fc; overflow-wrap: anywhere; }
      ol { padding-left: 1.2rem; }
      ol > li + li { margin-top: 0.5rem; }
      a.open { display: inline-block; min-height: 44px; padding: 0.5rem 0; box-sizing: border-box; }
    `,
  ];
  declare arrival: InsecureArrival | null;

  constructor() {
    super();
    this.arrival = null;
  }

  override render() {
    const a = this.arrival;
    if (!a) return nothing;
    const trust = a.trustUrl
      ? html`install the mesh's certificate from <a class="trust" href=${a.trustUrl}>${a.trustUrl}</a>`
      : html`install the mesh's certificate (ask whoever runs the mesh for its certificate page: <code>liquidmesh start</code> prints it)`;
    if (a.reason === 'insecure') {
      return html`<section class="card stack insecure" role="alert" aria-label="Insecure connection">
        <h2>This page was opened over an insecure connection</h2>
        <p>You opened <code>${a.openedUrl}</code> over plain HTTP. Browsers let only secure (HTTPS) pages run the sandbox, keep keys, use the camera and work offline, so this device cannot join the mesh from here. This is no network failure: the page reached the host, only not securely.</p>
        <ol>
          <li>First ${trust}.</li>
          <li>Then open <a class="open secure" href=${a.secureUrl}>${a.secureUrl}</a></li>
        </ol>
        <details><summary>How to trust the certificate</summary>${trustStepsList()}</details>
      </section>`;
    }
    if (a.reason === 'engine') {
      const missing = a.missing ?? [];
      return html`<section class="card stack insecure engine" role="alert" aria-label="Browser engine lacks a feature">
        <h2>This browser cannot host modules</h2>
        <p>The page is secure and cross-origin isolated, but this browser lacks <strong class="missing">${missing.join(' and ')}</strong>, which the mesh needs${missing.includes('SharedArrayBuffer') ? ' to run modules in its sandbox' : ''}${missing.includes('WebRTC') ? ' to reach the other devices' : ''}. WebKitGTK browsers (GNOME Web, MiniBrowser, WPE kiosks) are built this way; Safari, Firefox and Chromium-based browsers have both. Open this page in one of those.</p>
        <p class="small">Opened: <code>${a.openedUrl}</code></p>
      </section>`;
    }
    return html`<section class="card stack insecure" role="alert" aria-label="Not cross-origin isolated">
      <h2>This page is not cross-origin isolated</h2>
      <p>The page is secure but was served without the <code>Cross-Origin-Opener-Policy: same-origin</code> and <code>Cross-Origin-Embedder-Policy: require-corp</code> headers, so the sandbox cannot share memory with its workers and this device cannot host modules. Open the page from the LiquidMesh host itself (<code>liquidmesh start</code> serves it with these headers), not through a proxy or another server.</p>
      ${a.trustUrl ? html`<p class="small">The mesh's certificate: <a class="trust" href=${a.trustUrl}>${a.trustUrl}</a></p>` : nothing}
    </section>`;
  }
}
if (!customElements.get('lm-insecure-view')) customElements.define('lm-insecure-view', InsecureView);
