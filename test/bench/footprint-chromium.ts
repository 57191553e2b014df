/**
 * Idle footprint of a headless Chromium peer: the memory of all the browser's processes
 * (browser, zygotes, renderer, GPU and network services, crash handler) while the PWA
 * peer sits linked to a Node peer over WebRTC with no module loaded, against the same
 * Chromium with the same flags showing an empty page, measured in the same run.
 *
 * The figure is the memory only this browser holds: each process's anonymous,
 * shared-memory and swapped pages (Chromium's own "private memory footprint" plus its
 * shared-memory segments). Beside it: the same plus the file-backed pages (the Chromium
 * binary and libraries every process maps, clean and reclaimable) counted once, which is
 * what the browser takes on a device where no other program maps them, and the plain sum
 * of resident sizes. Proportional set sizes are not used: they divide shared pages among
 * every Chromium on the machine, so they shrink as other browsers start.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildPwa, startWebServer } from '../../node-host/web-server.ts';
import { launchChromiumPeer } from '../../node-host/headless/chromium.ts';
import { startSignalServer } from '../../node-host/signal/signal-server.ts';
import { waitFor } from '../acceptance/wait.ts';
import { type BenchSection, bytes } from './harness.ts';
import { meshOf } from './webrtc-mesh.ts';

/** Samples per measurement, one a second, after the peer has settled. */
const SAMPLES = 10;
/** Time left for start-up work (service worker install, first sync, JIT) to end before sampling. */
const SETTLE_MS = 10_000;
/** The Chromium goal of the design: 200 MB (decimal, the stricter reading). */
const GOAL_BYTES = 200 * 1000 * 1000;

interface Footprint {
  /** Σ (anonymous + shared-memory + swapped) of every process: the memory only this browser holds. */
  total: number;
  /** {@link total} plus the largest file-backed resident size, once: the Chromium code pages every process maps. */
  withCode: number;
  /** Σ resident sizes (file-backed pages counted in every process that maps them). */
  rss: number;
  processes: number;
}

/** Every process of the browser whose main process is `pid`: its descendants, and those started with its profile directory (the crash handler detaches). */
function browserProcesses(pid: number, profileDir: string): number[] {
  const parents = new Map<number, number>();
  const byProfile: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const p = Number(entry);
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      // The command name may hold spaces and parentheses: fields start after the last ')'.
      parents.set(p, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(profileDir)) byProfile.push(p);
    } catch {
      // The process ended while the table was read: it has no memory to count.
      continue;
    }
  }
  const found = new Set<number>([pid, ...byProfile]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [p, parent] of parents) {
      if (!found.has(p) && found.has(parent)) {
        found.add(p);
        grew = true;
      }
    }
  }
  return [...found];
}

/** The footprint of `pids`, from /proc/<pid>/status (in bytes). */
function measure(pids: number[]): Footprint {
  const sum = { anon: 0, shmem: 0, swap: 0, rss: 0, file: 0, processes: 0 };
  for (const p of pids) {
    let text: string;
    try {
      text = readFileSync(`/proc/${p}/status`, 'utf8');
    } catch {
      // Exited between listing and reading.
      continue;
    }
    const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
    sum.processes++;
    sum.anon += kb('RssAnon');
    sum.shmem += kb('RssShmem');
    sum.swap += kb('VmSwap');
    sum.rss += kb('VmRSS');
    // Every process maps the same Chromium binary and libraries: their pages are counted once.
    sum.file = Math.max(sum.file, kb('RssFile'));
  }
  return { total: sum.anon + sum.shmem + sum.swap, withCode: sum.anon + sum.shmem + sum.swap + sum.file, rss: sum.rss, processes: sum.processes };
}

/** The median footprint over {@link SAMPLES} samples a second apart, after {@link SETTLE_MS}. */
async function idleFootprint(pid: number, profileDir: string): Promise<Footprint> {
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const samples: Footprint[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    samples.push(measure(browserProcesses(pid, profileDir)));
    await new Promise((r) => setTimeout(r, 1000));
  }
  samples.sort((a, b) => a.total - b.total);
  return samples[Math.floor(samples.length / 2)]!;
}

async function chromiumFootprint(): Promise<BenchSection> {
  await buildPwa();
  const signal = await startSignalServer();
  const web = await startWebServer();
  const mesh = 'bench-footprint';
  // The baseline's page: empty, with the PWA server's isolation headers.
  const emptyPage = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' });
    res.end('<!doctype html><title>empty</title>');
  });
  await new Promise<void>((resolve) => emptyPage.listen(0, '127.0.0.1', resolve));
  const [node] = await meshOf(signal.url, ['bench-node'], mesh);
  const closers: (() => Promise<unknown>)[] = [];
  try {
    // Baseline: the same browser and flags on a page with nothing in it.
    const blank = await launchChromiumPeer({ pwaUrl: `http://127.0.0.1:${(emptyPage.address() as AddressInfo).port}/`, name: 'blank' });
    closers.push(() => blank.close());
    const empty = await idleFootprint(blank.pid!, blank.profileDir);
    await blank.close();
    closers.pop();

    const peer = await launchChromiumPeer({ pwaUrl: web.url, name: 'bench-chromium', params: { signal: signal.url, mesh, secret: 'bench' } });
    closers.push(() => peer.close());
    await waitFor(() => node!.peer.linked().length >= 1 && node!.peer.alive().length >= 1, 'the Chromium peer linked to the Node peer', 60_000);
    const idle = await idleFootprint(peer.pid!, peer.profileDir);
    const first = new Set(node!.peer.linked());
    await peer.close();
    closers.pop();

    // The same peer with Chromium's own process model (zygotes, a GPU process, a spare renderer): what the lean flags save.
    const plain = await launchChromiumPeer({ pwaUrl: web.url, name: 'bench-chromium-plain', params: { signal: signal.url, mesh, secret: 'bench' }, lean: false });
    closers.push(() => plain.close());
    await waitFor(() => node!.peer.linked().some((id) => !first.has(id)), 'the second Chromium peer linked to the Node peer', 60_000);
    const unlean = await idleFootprint(plain.pid!, plain.profileDir);
    const mib = (n: number): string => bytes(n);
    return {
      title: 'Idle footprint: headless Chromium peer',
      method: `Debian's Chromium as \`launchChromiumPeer\` starts it headless (the peer's flags, a fresh profile), the PWA loaded as a peer linked over WebRTC to one Node peer on loopback, no module loaded. Memory of all the browser's processes (its descendants and the crash handler), from /proc/<pid>/status. The figure: each process's anonymous, shared-memory and swapped pages, summed — the memory only this browser holds (Chromium's "private memory footprint" plus its shared-memory segments). Beside it: the same plus the file-backed resident pages (the Chromium binary and libraries, mapped by every process, clean and reclaimable) counted once — what the browser takes on a device where nothing else maps them —, and the plain sum of resident sizes (file-backed pages counted in every process). Proportional set sizes are not used: on a machine running other browsers they divide the shared pages among all of them. Median of ${SAMPLES} samples a second apart, taken after ${SETTLE_MS / 1000} s of rest. Baseline in the same run: the same browser and flags showing an empty page (served from loopback with the same isolation headers); and the same peer again with Chromium's default process model (zygotes, a GPU process, a spare renderer: without \`CHROMIUM_LEAN_FLAGS\`).`,
      rows: [
        { name: `Chromium peer at rest, all processes (${idle.processes}): anonymous + shared memory`, figure: mib(idle.total), baseline: `empty page ${mib(empty.total)} (${empty.processes} processes)`, ratio: `${(idle.total / empty.total).toFixed(2)}×`, goal: '≤ 200 MB', met: idle.total <= GOAL_BYTES },
        { name: `the same peer with Chromium's default process model (${unlean.processes} processes)`, figure: mib(unlean.total), baseline: `lean ${mib(idle.total)}`, ratio: `${(unlean.total / idle.total).toFixed(2)}×`, goal: '' },
        { name: 'the same with the Chromium code pages counted once', figure: mib(idle.withCode), baseline: `empty page ${mib(empty.withCode)}`, ratio: `${(idle.withCode / empty.withCode).toFixed(2)}×`, goal: '' },
        { name: 'sum of resident sizes (shared pages counted in each process)', figure: mib(idle.rss), baseline: `empty page ${mib(empty.rss)}`, ratio: `${(idle.rss / empty.rss).toFixed(2)}×`, goal: '' },
      ],
    };
  } finally {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    await node?.stop();
    await new Promise((resolve) => emptyPage.close(resolve));
    await web.close();
    await signal.close();
  }
}

/** The Chromium footprint benchmark, `npm run bench -- footprint-chromium`. */
export const footprintChromiumBenchmarks: { id: string; run: () => Promise<BenchSection> }[] = [{ id: 'footprint-chromium', run: chromiumFootprint }];
