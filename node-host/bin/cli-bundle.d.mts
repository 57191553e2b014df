/** Types of cli-bundle.mjs (plain JavaScript: the launcher runs it before any TypeScript loader). */

/** Where the bundle and its manifest live by default. */
export declare const BUNDLE_DIR: string;
/** The bundle's entry as a file URL when the bundle in `dir` matches the sources, else null. */
export declare function freshBundle(dir?: string): string | null;
/** Bundle the command's sources into a new build in `dir`, unless the one there matches them. */
export declare function buildBundle(dir?: string): Promise<{ entry: string; inputs: number; built: boolean }>;
