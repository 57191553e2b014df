/** Types of cli-bundle.mjs (plain JavaScript: the launcher runs it before any TypeScript loader). */

/** Where the bundle and its manifest live. */
export declare const BUNDLE_DIR: string;
/** The bundle's entry as a file URL when the bundle matches the sources, else null. */
export declare function freshBundle(): string | null;
/** Bundle the command's sources, replacing the previous bundle. */
export declare function buildBundle(): Promise<{ entry: string; inputs: number; bytes: number }>;
