/**
 * A page the mesh cannot run in: opened over plain HTTP from another machine (browsers
 * treat only loopback and HTTPS pages as secure: no Web Crypto, no service worker, no
 * camera, no cross-origin isolation there) or served without the cross-origin isolation
 * headers the sandbox needs (SharedArrayBuffer), or in a browser engine without
 * SharedArrayBuffer or WebRTC (docs/decisions/0024-browser-engines.md). What went wrong and where to go instead,
 * for the app to show rather than start.
 */

/** Why the page cannot host modules, and what to open instead. */
export interface InsecureArrival {
  /**
   * `insecure`: not a secure context; `not-isolated`: secure but not cross-origin isolated;
   * `engine`: secure and isolated, but the browser engine lacks what the mesh needs.
   */
  reason: 'insecure' | 'not-isolated' | 'engine';
  /** For `engine`: what the engine lacks (`SharedArrayBuffer`, `WebRTC`). */
  missing?: string[];
  /** The page as opened. */
  openedUrl: string;
  /** The same page over HTTPS (only for `insecure`). */
  secureUrl: string;
  /** The page serving the mesh's certificate and how to trust it ('' when unknown). */
  trustUrl: string;
}

/** What the page knows about itself. */
export interface ArrivalFacts {
  href: string;
  /** `isSecureContext`. */
  secure: boolean;
  /** `crossOriginIsolated`. */
  isolated: boolean;
  /** The `trust` query parameter (the certificate page), if any. */
  trust: string | null;
  /**
   * `typeof SharedArrayBuffer === 'function'`. Not a reason to refuse any more: the page
   * starts with a sandbox without shared memory (ADR 0024) and says what that leaves out.
   */
  sharedMemory?: boolean;
  /** `typeof RTCPeerConnection === 'function'` (absent when not given: assumed present). */
  webRtc?: boolean;
  /** The page was given a NATS backbone (`nats` parameter): it reaches the mesh without WebRTC. */
  backbone?: boolean;
}

/** Only http(s) links are offered: a crafted join URL must not make the page link to script. */
function safeLink(raw: string | null): string {
  if (!raw) return '';
  try {
    const url = new URL(raw);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.toString() : '';
  } catch {
    return '';
  }
}

/** Null when the page can host modules; else why not and where to go. */
export function insecureArrival(facts: ArrivalFacts): InsecureArrival | null {
  const trustUrl = safeLink(facts.trust);
  if (facts.secure && facts.isolated) {
    // WebKitGTK (GNOME Web, WPE kiosks) builds its JavaScript engine without
    // SharedArrayBuffer even on an isolated page, and ships WebRTC off by default. A page
    // with the NATS backbone reaches every peer over WebSocket, so lacking WebRTC only
    // matters without one. Lacking SharedArrayBuffer no longer stops the page: its sandbox
    // runs without shared memory and the app says what that leaves out.
    const missing = facts.webRtc === false && facts.backbone !== true ? ['WebRTC'] : [];
    return missing.length === 0 ? null : { reason: 'engine', missing, openedUrl: facts.href, secureUrl: '', trustUrl };
  }
  if (!facts.secure) {
    const secure = new URL(facts.href);
    secure.protocol = 'https:';
    return { reason: 'insecure', openedUrl: facts.href, secureUrl: secure.toString(), trustUrl };
  }
  return { reason: 'not-isolated', openedUrl: facts.href, secureUrl: '', trustUrl };
}
