/**
 * Published figures of comparable systems beside ours. Nothing is measured here: our
 * figures come from the sections measured in the same `npm run bench` run, or else from
 * the last run recorded in BENCHMARKS.md; theirs are quoted with their source and the
 * conditions they were measured under, which differ from ours (hardware, load, what
 * the figure includes) — the table says where we stand, it is not a race on one machine.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { BenchRow, BenchSection } from './harness.ts';

interface Published {
  name: string;
  /** Section title and row name of our comparable figure in BENCHMARKS.md. */
  ours: { section: string; row: string; column: 'figure' | 'baseline' };
  theirs: string;
  source: string;
  /** How ours relates to theirs, given ours as printed. */
  relation: (ours: string) => string;
}

const PUBLISHED: Published[] = [
  {
    name: 'failover: a dead host noticed and its work callable elsewhere',
    ours: { section: 'Failover (a killed Node process, WebRTC on loopback)', row: 'kill → callable again', column: 'figure' },
    theirs: 'WasmIoT: ~75 s — the orchestrator polls each device\'s /health every 15 s and fails a device over after 5 failed checks (the long-standing default; the current code defaults to 1 check, ~15 s)',
    source: 'https://github.com/LiquidAI-project/wasmiot-orchestrator/blob/main/fileserv/constants.js (`DEVICE_HEALTH_CHECK_INTERVAL_MS`, `DEVICE_HEALTHCHECK_THRESHOLD`)',
    relation: (ours) => ratioTo(ours, 75_000, 'of 75 s'),
  },
  {
    name: 'failure detection of a host',
    ours: { section: 'Failover (a killed Node process, WebRTC on loopback)', row: 'kill → departure noticed', column: 'figure' },
    theirs: 'wasmCloud: ~60–70 s until a dead host is noticed — hosts announce themselves by periodic `host_heartbeat` events and are dropped once these stop (figure as quoted; its period was not re-checked here)',
    source: 'https://wasmcloud.com/docs/reference/cloud-event-list/ (host_heartbeat)',
    relation: (ours) => ratioTo(ours, 65_000, 'of 65 s'),
  },
  {
    name: 'HTTP requests per second into a Wasm function, one node',
    ours: { section: 'HTTP gateway', row: 'requests per second', column: 'figure' },
    theirs: 'wasmCloud: 22–23k req/s for one host, 17–18k per host in a cluster — a Rust hello-world component, `hey -z 20s -c 150`, 10-core M1 Max or 16-core AMD Rome, unreleased 1.0 optimisations',
    source: 'https://github.com/wasmCloud/wasmCloud/blob/main/performance.md',
    relation: (ours) => ratioTo(ours, 22_500, 'of 22.5k/s'),
  },
  {
    name: 'MobileNetV2 inference in Wasm (SIMD + threads)',
    ours: { section: 'Image classification (MobileNetV2 through wasi-nn and in Wasm SIMD)', row: 'onnxruntime-web direct p50', column: 'figure' },
    theirs: 'TF.js Wasm backend with SIMD and threads (XNNPACK): ~10–12 ms per MobileNetV2 inference in Chrome on 4+ core desktops (the post\'s table, figure as quoted)',
    source: 'https://blog.tensorflow.org/2020/09/supercharging-tensorflowjs-webassembly.html',
    relation: (ours) => ratioTo(ours, 11, 'of 11 ms'),
  },
  {
    name: 'cost of calling into Wasm from the host application, per call',
    ours: { section: 'Calls through the sandbox', row: 'sandbox call p50', column: 'figure' },
    theirs: 'Wasmtube (an Elixir application calling Wasm): +215 µs per call on a Raspberry Pi 4 (IEEE WF-IoT 2023, Kuribayashi et al., figure as quoted); ours is a call to a worker thread on a 2-core x86 server',
    source: 'https://ieeexplore.ieee.org/document/10539584 ; slides https://speakerdeck.com/player/5f0e309fd8a5482ca0ef9ce6a412b783',
    relation: (ours) => ratioTo(ours, 0.215, 'of 215 µs'),
  },
];

/** "N.N×" of `printed` (a figure like "3.99 s", "21,816/s", "37.42 ms", "54.6 µs") against `theirs` in the same unit (ms, or a count for rates). */
function ratioTo(printed: string, theirs: number, label: string): string {
  const value = parse(printed);
  if (value === undefined) return '–';
  return `${(value / theirs).toFixed(value / theirs < 10 ? 2 : 0)}× ${label}`;
}

/** A printed figure in ms (times) or per second (rates); undefined when it is not one. */
function parse(printed: string): number | undefined {
  const rate = /^([\d,]+)\/s/.exec(printed);
  if (rate) return Number(rate[1]!.replaceAll(',', ''));
  const time = /([\d.]+) (ns|µs|ms|s)\b/.exec(printed);
  if (!time) return undefined;
  const scale = { ns: 1e-6, µs: 1e-3, ms: 1, s: 1000 }[time[2] as 'ns' | 'µs' | 'ms' | 's'];
  return Number(time[1]) * scale;
}

/** Rows of BENCHMARKS.md by section title, parsed from its tables. */
function recorded(): Map<string, BenchRow[]> {
  const out = new Map<string, BenchRow[]>();
  if (!existsSync('BENCHMARKS.md')) return out;
  let section = '';
  for (const line of readFileSync('BENCHMARKS.md', 'utf8').split('\n')) {
    if (line.startsWith('## ')) section = line.slice(3).trim();
    else if (line.startsWith('| ') && !line.startsWith('| benchmark') && section) {
      const [name, figure, baseline, ratio, goal] = line.slice(2, -2).split(' | ');
      out.set(section, [...(out.get(section) ?? []), { name: name ?? '', figure: figure ?? '', baseline: baseline ?? '', ratio: ratio ?? '', goal: goal ?? '' }]);
    }
  }
  return out;
}

/** The section, with our figures from `measured` (this run) or the last recorded run. */
export function peersSection(measured: BenchSection[]): BenchSection {
  const previous = recorded();
  const rows: BenchRow[] = PUBLISHED.map((p) => {
    const fresh = measured.find((s) => s.title === p.ours.section)?.rows.find((r) => r.name === p.ours.row);
    const row = fresh ?? previous.get(p.ours.section)?.find((r) => r.name === p.ours.row);
    const ours = row ? row[p.ours.column] : 'not measured yet';
    return {
      name: p.name,
      figure: `ours: ${ours}${row && !fresh ? ' (last recorded run)' : ''}`,
      baseline: `${p.theirs} — ${p.source}`,
      ratio: p.relation(ours),
      goal: '',
    };
  });
  return {
    title: 'Published figures of comparable systems',
    method:
      'Figures other projects publish, beside our comparable figure from BENCHMARKS.md (from this run where that section ran in it). Their conditions differ from ours — our figures come from a shared 2-core machine under load, on loopback; theirs from the hardware named in each row —, so the ratio says where we stand, not which is faster on equal ground. Failover: ours is a SIGKILLed peer process until its deployment answers again from another peer; detection: ours is a SIGKILLed peer process until the coordinator\'s peer reports it gone. Requests: ours is one Node peer\'s gateway running fibo in a worker sandbox with history, theirs a hello-world component. Inference: ours is onnxruntime-web (Wasm SIMD, 2 threads on 2 cores), theirs TF.js with XNNPACK on 4+ cores. Per-call cost: ours is a whole sandbox call (worker hop, wasm, state copy) on x86, theirs a call from Elixir into Wasm on a Pi 4.',
    rows,
  };
}
