/**
 * Helpers of the PWA's component tests: browser peers on an in-memory network, mounting a
 * view, and reading what a user sees through every shadow root.
 */
import { deleteDB } from 'idb';
import type { LitElement } from 'lit';
import { MemoryNetwork } from '../../shared/memory/memory-network.ts';
import { type BrowserPeer, startBrowserPeer } from '../../web/browser-peer.ts';
import { waitFor } from '../acceptance/wait.ts';
import { moduleFile } from './module-files.ts';

/** Peers, databases and elements a test made, to clean up after it. */
export class Fixture {
  readonly network = new MemoryNetwork();
  readonly peers: BrowserPeer[] = [];
  readonly #dbs: string[] = [];
  readonly #elements: Element[] = [];
  readonly #prefix = `lm-ui-${Math.random().toString(36).slice(2, 8)}`;

  /** Start a browser peer named `name` (no camera) and wait until it sees the others. */
  async peer(name: string, options: { dbName?: string } = {}): Promise<BrowserPeer> {
    const dbName = options.dbName ?? `${this.#prefix}-${name}`;
    if (!this.#dbs.includes(dbName)) this.#dbs.push(dbName);
    const peer = await startBrowserPeer({ name, transports: [this.network.createTransport()], dbName, camera: false });
    this.peers.push(peer);
    return peer;
  }

  /** Databases made by peers started elsewhere, to delete after the test. */
  extraDbs(...names: string[]): void {
    for (const n of names) if (!this.#dbs.includes(n)) this.#dbs.push(n);
  }

  /** Wait until every running peer sees every other alive. */
  async meshed(): Promise<void> {
    const running = this.peers.filter((p) => p.peer.running);
    await waitFor(() => running.every((p) => p.peer.alive().length === running.length - 1), 'every peer to see the others');
  }

  /** Create `<tag>` with `props`, attach it to the page and wait for its first render. */
  async mount<T extends LitElement>(tag: string, props: Partial<T> = {}): Promise<T> {
    const el = document.createElement(tag) as T;
    Object.assign(el, props);
    document.body.appendChild(el);
    this.#elements.push(el);
    await el.updateComplete;
    return el;
  }

  /** Remove elements, stop peers, delete databases. */
  async dispose(): Promise<void> {
    for (const el of this.#elements.splice(0)) el.remove();
    await Promise.all(this.peers.splice(0).map((p) => p.stop()));
    for (const db of this.#dbs.splice(0)) await deleteDB(db);
  }
}

/** Every element matching `selector` under `root`, looking inside shadow roots too. */
export function findAll<E extends Element = HTMLElement>(root: Element | ShadowRoot | Document, selector: string): E[] {
  const out: E[] = [];
  const visit = (node: Element | ShadowRoot | Document): void => {
    out.push(...Array.from(node.querySelectorAll<E>(selector)));
    for (const el of Array.from(node.querySelectorAll('*'))) if (el.shadowRoot) visit(el.shadowRoot);
  };
  visit(root instanceof Element && root.shadowRoot ? root.shadowRoot : root);
  return out;
}

/** The first element matching `selector` (shadow roots included); fails naming it when absent. */
export function find<E extends Element = HTMLElement>(root: Element | ShadowRoot | Document, selector: string): E {
  const el = findAll<E>(root, selector)[0];
  if (!el) throw new Error(`no element ${selector}`);
  return el;
}

/** The text a user reads in `root`, shadow roots included, whitespace collapsed. */
export function textOf(root: Element | ShadowRoot): string {
  const parts: string[] = [];
  const visit = (node: Node): void => {
    if (node.nodeType === Node.TEXT_NODE) parts.push(node.textContent ?? '');
    if (node.nodeName === 'STYLE' || node.nodeName === 'SCRIPT') return;
    const el = node as Element;
    // Elements separate words; text nodes of one element (Lit's parts) join as they read.
    if (node.nodeType === Node.ELEMENT_NODE) parts.push(' ');
    if (el.shadowRoot) visit(el.shadowRoot);
    for (const child of Array.from(node.childNodes)) visit(child);
    if (node.nodeType === Node.ELEMENT_NODE) parts.push(' ');
  };
  visit(root);
  return parts.join('').replace(/\s+/g, ' ').trim();
}

/** The button (shadow roots included) whose text or aria-label is `label`. */
export function button(root: Element, label: string): HTMLButtonElement {
  const found = findAll<HTMLButtonElement>(root, 'button').find((b) => b.textContent?.trim() === label || b.getAttribute('aria-label') === label);
  if (!found) throw new Error(`no button ${label}`);
  return found;
}

/** Choose a value in a `<select>` as a user does (fires change). */
export function choose(select: HTMLSelectElement, value: string): void {
  select.value = value;
  select.dispatchEvent(new Event('change', { bubbles: true }));
}

/** Type into an input as a user does (fires input and change). */
export function type(input: HTMLInputElement, value: string): void {
  input.value = value;
  input.dispatchEvent(new Event('input', { bubbles: true }));
  input.dispatchEvent(new Event('change', { bubbles: true }));
}

/** Put files into a file input as if picked (fires change). */
export function pickFiles(input: HTMLInputElement, files: File[]): void {
  const transfer = new DataTransfer();
  for (const f of files) transfer.items.add(f);
  input.files = transfer.files;
  input.dispatchEvent(new Event('change', { bubbles: true }));
}

/** A sample module's wasm as a File, as a user would pick it. */
export async function moduleAsFile(path: string): Promise<File> {
  const bytes = await moduleFile(path);
  return new File([bytes as Uint8Array<ArrayBuffer>], path.split('/').pop()!, { type: 'application/wasm' });
}

/** Publish a sample module (modules/<name>/) straight through the package manager. */
export async function publishSample(peer: BrowserPeer, name: string, wasm = `${name}/${name}.wasm`): Promise<void> {
  const description = JSON.parse(new TextDecoder().decode(await moduleFile(`${name}/description.json`)));
  await peer.orchestrator.packages.publish({ wasm: await moduleFile(wasm), description });
}
