/**
 * A page the mesh cannot run in: opened over plain HTTP from another machine (browsers
 * treat only loopback and HTTPS pages as secure: no Web Crypto, no service worker, no
 * camera, no cross-origin isolation there) or served without the cross-origin isolation
 * headers the sandbox needs (SharedArrayBuffer). What went wrong and where to go instead,
 * for the app to show rather than start.
 */

/** Why the page cannot host modules, and what to open instead. */
export interface InsecureArrival {
  /** `insecure`: not a secure context; `not-isolated`: secure but not cross-origin isolated. */
  reason: 'insecure' | 'not-isolated';
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
  if (facts.secure && facts.isolated) return null;
  const trustUrl = safeLink(facts.trust);
  if (!facts.secure) {
    const secure = new URL(facts.href);
    secure.protocol = 'https:';
    return { reason: 'insecure', openedUrl: facts.href, secureUrl: secure.toString(), trustUrl };
  }
  return { reason: 'not-isolated', openedUrl: facts.href, secureUrl: '', trustUrl };
}
