/**
 * Separate hosts for end-to-end tests: each host is a network namespace with one veth
 * interface and a private address, plugged into a bridge that lives in a "switch"
 * namespace of its own, like machines on one LAN. Nothing else is in those namespaces —
 * no other interface, no default route — so nothing a test starts can reach beyond them.
 * A host runs commands (`ip netns exec`) and launches Chromium inside itself:
 * puppeteer-core cannot reach a DevTools port inside another namespace, so the browser is
 * driven over a pipe and started through a wrapper script that enters the namespace.
 *
 *   const lan = await TestLan.create(['host', 'phone']);
 *   try {
 *     const host = lan.host('host').liquidmesh(['start', '--host', lan.host('host').address, …]);
 *     const browser = await lan.host('phone').launchBrowser({ trust: caPem }); // closed by lan.close()
 *   } finally {
 *     await lan.close(); // stops what the hosts started, closes browsers, deletes the namespaces
 *   }
 *
 * Needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN); works inside npm test's loopback-only
 * namespace, which is where the veth pairs are created before they are moved.
 */
import { type ChildProcess, execFile, spawn, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import puppeteer, { type Browser } from 'puppeteer-core';
import { CHROMIUM_FLAGS, CHROMIUM_PATH } from '../../node-host/headless/chromium.ts';
import { waitFor } from '../acceptance/wait.ts';

const run = promisify(execFile);

/** The `liquidmesh` command's entry point. */
export const CLI = fileURLToPath(new URL('../../node-host/bin/liquidmesh.mjs', import.meta.url));

/** What a finished command printed. */
export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function ip(...args: string[]): Promise<void> {
  await run('ip', args);
}

/** A command running on a host: its output so far, waits on it, and a stop by PID. */
export class HostProcess {
  readonly child: ChildProcess;
  /** Everything printed so far, stdout and stderr interleaved. */
  output = '';
  stdout = '';
  stderr = '';
  /** Resolves with the exit code when the process exits. */
  readonly exited: Promise<number | null>;
  /** Resolves once the process exited and its output was read to the end. */
  readonly closed: Promise<void>;

  constructor(child: ChildProcess) {
    this.child = child;
    child.stdout?.on('data', (d: Buffer) => {
      this.stdout += d.toString();
      this.output += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      this.stderr += d.toString();
      this.output += d.toString();
    });
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    this.closed = new Promise((resolve) => child.once('close', () => resolve()));
  }

  /**
   * Resolve once the output (from character `from` on: take `output.length` as a mark to
   * wait for something new) matches `pattern`, and return the match; fail naming `what`
   * with the output so far.
   */
  async waitForOutput(pattern: RegExp, what: string, timeoutMs = 60_000, from = 0): Promise<RegExpExecArray> {
    let match: RegExpExecArray | null = null;
    await waitFor(() => (match = pattern.exec(this.output.slice(from))) !== null || this.child.exitCode !== null, what, timeoutMs).catch((error: Error) => {
      throw new Error(`${error.message}; output so far:\n${this.output}`);
    });
    if (!match) throw new Error(`exited with ${String(this.child.exitCode)} before ${what}; output:\n${this.output}`);
    return match;
  }

  /** SIGINT (Ctrl-C), then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGINT');
    const timer = new Promise((r) => setTimeout(r, graceMs));
    await Promise.race([this.exited, timer]);
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}

/** Options of {@link TestHost.launchBrowser}. */
export interface BrowserOptions {
  /**
   * The browser's own directory (its `profile/` and `home/`): pass the same one again to
   * restart the same browser, e.g. after its user trusted a CA. Default: a new temporary one.
   */
  dir?: string;
  /** A CA certificate (PEM or DER) this browser's user trusts, imported into its NSS database with certutil before launch. */
  trust?: string | Uint8Array;
  /** Extra Chromium flags. */
  args?: string[];
}

/** One machine on the test LAN. */
export class TestHost {
  /** The name the test gave it. */
  readonly label: string;
  /** Its network namespace. */
  readonly netns: string;
  /** Its address on the LAN. */
  readonly address: string;
  /** Its network interface (inside its namespace): `ip link set dev <iface> down` takes it off the LAN. */
  readonly iface: string;
  readonly #lan: TestLan;

  constructor(lan: TestLan, label: string, netns: string, address: string, iface: string) {
    this.#lan = lan;
    this.label = label;
    this.netns = netns;
    this.address = address;
    this.iface = iface;
  }

  /** Start `command` inside this host; stopped (by PID) when the LAN closes. */
  spawn(command: string, args: string[], options: SpawnOptions = {}): HostProcess {
    const child = spawn('ip', ['netns', 'exec', this.netns, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    const started = new HostProcess(child);
    this.#lan.track(() => started.stop());
    return started;
  }

  /** Run `command` inside this host to completion. */
  async run(command: string, args: string[], options: SpawnOptions = {}): Promise<CommandResult> {
    const started = this.spawn(command, args, options);
    const code = await started.exited;
    await started.closed;
    return { code, stdout: started.stdout, stderr: started.stderr };
  }

  /** Run `liquidmesh <args>` on this host (the CLI as a user runs it). */
  liquidmesh(args: string[], options: SpawnOptions = {}): HostProcess {
    return this.spawn(process.execPath, [CLI, ...args], options);
  }

  /**
   * Launch a headless Chromium inside this host, with a fresh profile and HOME of its own
   * (removed when the LAN closes). With `trust`, that CA is imported into the profile's
   * NSS database first, as a user who trusts it would (`certutil -A -t "C,,"`).
   */
  async launchBrowser(options: BrowserOptions = {}): Promise<Browser> {
    const dir = options.dir ?? (await this.#lan.tempDir(`browser-${this.label}`));
    const home = join(dir, 'home');
    await mkdir(home, { recursive: true });
    if (options.trust !== undefined) await trustInNss(home, options.trust);
    const wrapper = join(dir, 'chromium-in-netns');
    await writeFile(wrapper, `#!/bin/sh\nexec ip netns exec '${this.netns}' '${CHROMIUM_PATH}' "$@"\n`);
    await chmod(wrapper, 0o755);
    const browser = await puppeteer.launch({
      executablePath: wrapper,
      pipe: true,
      headless: true,
      env: { ...process.env, HOME: home },
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
      args: [...CHROMIUM_FLAGS, `--user-data-dir=${join(dir, 'profile')}`, ...(options.args ?? [])],
    });
    this.#lan.track(async () => {
      await browser.close().catch(() => browser.process()?.kill('SIGKILL'));
    });
    return browser;
  }
}

/** Import a CA certificate as trusted for websites into the NSS database under `home` (what Chromium on Linux reads). */
export async function trustInNss(home: string, ca: string | Uint8Array): Promise<void> {
  const db = join(home, '.pki', 'nssdb');
  await mkdir(db, { recursive: true });
  const file = join(home, 'ca.crt');
  await writeFile(file, ca);
  await run('certutil', ['-d', `sql:${db}`, '-N', '--empty-password']).catch(() => undefined); // exists already
  await run('certutil', ['-d', `sql:${db}`, '-A', '-t', 'C,,', '-n', 'liquidmesh-test', '-i', file]);
}

/** A LAN of {@link TestHost}s behind one bridge. */
export class TestLan {
  readonly hosts: TestHost[] = [];
  /** The LAN's prefix, e.g. `10.123.45` (hosts are .1, .2, …, in the order given). */
  readonly subnet: string;
  readonly #suffix: string;
  readonly #switch: string;
  readonly #namespaces: string[] = [];
  readonly #cleanup: (() => Promise<void>)[] = [];
  readonly #temp: string[] = [];

  private constructor(suffix: string, subnet: string) {
    this.#suffix = suffix;
    this.subnet = subnet;
    this.#switch = `lmtls-sw-${suffix}`;
  }

  /**
   * Create one namespace per label, each with address `<subnet>.<n>` (n = 1, 2, … in the
   * order given) on a veth plugged into a bridge. On failure, what was made is deleted.
   */
  static async create(labels: string[]): Promise<TestLan> {
    if (labels.length === 0 || labels.length > 200) throw new Error('a LAN has 1 to 200 hosts');
    const bytes = randomBytes(5);
    const suffix = bytes.subarray(0, 3).toString('hex');
    const lan = new TestLan(suffix, `10.${100 + (bytes[3]! % 150)}.${bytes[4]!}`);
    try {
      await lan.#build(labels);
    } catch (error) {
      await lan.close();
      throw error;
    }
    return lan;
  }

  /** The host with this label. */
  host(label: string): TestHost {
    const found = this.hosts.find((h) => h.label === label);
    if (!found) throw new Error(`no host ${label} on this LAN`);
    return found;
  }

  /** Run `step` when the LAN closes (before the namespaces go), latest first. */
  track(step: () => Promise<void>): void {
    this.#cleanup.push(step);
  }

  /** A temporary directory removed when the LAN closes. */
  async tempDir(label: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), `liquidmesh-lan-${label}-`));
    this.#temp.push(dir);
    return dir;
  }

  /** Stop everything the hosts started, delete the namespaces (and their veths) and the temporary files. Never throws. */
  async close(): Promise<void> {
    for (const step of this.#cleanup.splice(0).reverse()) await step().catch(() => undefined);
    for (const ns of this.#namespaces.splice(0).reverse()) await ip('netns', 'del', ns).catch(() => undefined);
    for (const dir of this.#temp.splice(0)) await rm(dir, { recursive: true, force: true });
  }

  async #build(labels: string[]): Promise<void> {
    await ip('netns', 'add', this.#switch);
    this.#namespaces.push(this.#switch);
    await ip('-n', this.#switch, 'link', 'add', 'br0', 'type', 'bridge');
    await ip('-n', this.#switch, 'link', 'set', 'br0', 'up');
    for (const [i, label] of labels.entries()) {
      if (!/^[a-z0-9-]{1,20}$/.test(label)) throw new Error(`host label ${label}: use a-z, 0-9 and -`);
      const netns = `lmtls-${label}-${this.#suffix}`;
      await ip('netns', 'add', netns);
      this.#namespaces.push(netns);
      // Interface names are at most 15 characters; created here, then moved.
      const end = `lt${this.#suffix}h${i}`;
      const port = `lt${this.#suffix}s${i}`;
      await ip('link', 'add', end, 'type', 'veth', 'peer', 'name', port);
      await ip('link', 'set', end, 'netns', netns);
      await ip('link', 'set', port, 'netns', this.#switch);
      await ip('-n', this.#switch, 'link', 'set', port, 'master', 'br0');
      await ip('-n', this.#switch, 'link', 'set', port, 'up');
      const address = `${this.subnet}.${i + 1}`;
      await ip('-n', netns, 'addr', 'add', `${address}/24`, 'dev', end);
      await ip('-n', netns, 'link', 'set', end, 'up');
      await ip('-n', netns, 'link', 'set', 'lo', 'up');
      this.hosts.push(new TestHost(this, label, netns, address, end));
    }
  }
}
