#!/usr/bin/env node
// Draws the PWA's icons — a small mesh of five linked devices on a dark rounded square —
// as SVG and as PNGs (192, 512, and a maskable 512 with a safe margin), into
// web/public/icons/. Run it again after changing the drawing: `node web/tools/draw-icons.mjs`.
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

const OUT = new URL('../public/icons/', import.meta.url);
const BG = [0x0f, 0x17, 0x2a];
const LINE = [0x38, 0xbd, 0xf8];
const NODE = [0xe2, 0xe8, 0xf0];
// Unit coordinates (0..1) of the devices and their links.
const NODES = [[0.5, 0.24], [0.24, 0.44], [0.76, 0.44], [0.34, 0.76], [0.66, 0.76]];
const LINKS = [[0, 1], [0, 2], [1, 2], [1, 3], [2, 4], [3, 4], [0, 3], [0, 4]];

function svg() {
  const lines = LINKS.map(([a, b]) => `<line x1="${NODES[a][0] * 512}" y1="${NODES[a][1] * 512}" x2="${NODES[b][0] * 512}" y2="${NODES[b][1] * 512}"/>`).join('');
  const dots = NODES.map(([x, y]) => `<circle cx="${x * 512}" cy="${y * 512}" r="38"/>`).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 512 512"><rect width="512" height="512" rx="96" fill="#0f172a"/><g stroke="#38bdf8" stroke-width="18" stroke-linecap="round">${lines}</g><g fill="#e2e8f0" stroke="#38bdf8" stroke-width="10">${dots}</g></svg>\n`;
}

function segmentDistance(px, py, [ax, ay], [bx, by]) {
  const dx = bx - ax, dy = by - ay;
  const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(px - ax - t * dx, py - ay - t * dy);
}

/** Colour at unit point (x, y); `inset` shrinks the drawing (maskable icons), `round` the corner radius. */
function colourAt(x, y, inset, round) {
  const u = (x - inset) / (1 - 2 * inset), v = (y - inset) / (1 - 2 * inset);
  const cx = Math.min(Math.max(x, round), 1 - round), cy = Math.min(Math.max(y, round), 1 - round);
  if (Math.hypot(x - cx, y - cy) > round) return null;
  for (const [nx, ny] of NODES) {
    const d = Math.hypot(u - nx, v - ny);
    if (d < 0.0742 - 0.0195) return NODE;
    if (d < 0.0742 + 0.0098) return LINE;
  }
  for (const [a, b] of LINKS) if (segmentDistance(u, v, NODES[a], NODES[b]) < 0.0176) return LINE;
  return BG;
}

function png(size, inset, round) {
  const ss = 4;
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0;
    for (let x = 0; x < size; x++) {
      let r = 0, g = 0, b = 0, a = 0;
      for (let sy = 0; sy < ss; sy++) for (let sx = 0; sx < ss; sx++) {
        const c = colourAt((x + (sx + 0.5) / ss) / size, (y + (sy + 0.5) / ss) / size, inset, round);
        if (!c) continue;
        r += c[0]; g += c[1]; b += c[2]; a++;
      }
      const o = y * (size * 4 + 1) + 1 + x * 4;
      raw[o] = a ? Math.round(r / a) : 0;
      raw[o + 1] = a ? Math.round(g / a) : 0;
      raw[o + 2] = a ? Math.round(b / a) : 0;
      raw[o + 3] = Math.round((a / (ss * ss)) * 255);
    }
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr.set([8, 6, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}

function crc32(bytes) {
  let c = ~0;
  for (const byte of bytes) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

writeFileSync(new URL('icon.svg', OUT), svg());
writeFileSync(new URL('icon-192.png', OUT), png(192, 0, 0.1875));
writeFileSync(new URL('icon-512.png', OUT), png(512, 0, 0.1875));
// Maskable: full-bleed background, the drawing inside the central 80 % safe zone.
writeFileSync(new URL('icon-maskable-512.png', OUT), png(512, 0.1, 0));
console.log('icons written to web/public/icons/');
