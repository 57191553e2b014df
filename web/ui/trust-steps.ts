/**
 * How to trust the mesh's certificate authority, per platform, in a few words each: the
 * Join view shows them beside the certificate page's QR code and the insecure-arrival
 * page under its links. The certificate page itself (served by the host) has the file.
 */
import { html, type TemplateResult } from 'lit';

/** One platform's steps. */
export interface TrustSteps {
  platform: string;
  steps: string;
}

/** The platforms and their steps, phones first. */
export const TRUST_STEPS: readonly TrustSteps[] = [
  { platform: 'Android', steps: 'Download the certificate, then Settings → Security → Encryption & credentials → Install a certificate → CA certificate.' },
  { platform: 'iPhone and iPad', steps: 'Open the page in Safari and allow the download; Settings → General → VPN & Device Management → install the profile; then Settings → General → About → Certificate Trust Settings → turn on full trust.' },
  { platform: 'Chrome, Chromium, Edge (desktop)', steps: 'Settings → Privacy and security → Security → Manage certificates → Authorities → Import, and trust it for websites.' },
  { platform: 'Firefox', steps: 'Settings → Privacy & Security → Certificates → View Certificates → Authorities → Import, and trust it for websites.' },
  { platform: 'macOS (Safari)', steps: 'Open the file in Keychain Access and set it to Always Trust.' },
  { platform: 'Windows', steps: 'Open the file → Install Certificate → Local Machine → Trusted Root Certification Authorities.' },
];

/** The steps as a list. */
export function trustStepsList(): TemplateResult {
  return html`<ul class="trust-steps small">
    ${TRUST_STEPS.map((t) => html`<li><strong>${t.platform}:</strong> ${t.steps}</li>`)}
  </ul>`;
}
