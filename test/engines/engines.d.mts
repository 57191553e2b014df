/** Where Debian installs Firefox ESR (override with FIREFOX_PATH). */
export const FIREFOX_PATH: string;
/** Firefox test profile preferences (no ICE preference among them). */
export const FIREFOX_PREFS: Record<string, boolean>;
/** The web-test-runner launcher for `engine`. */
export function engineLauncher(engine: string, chromium: unknown): Promise<unknown>;
