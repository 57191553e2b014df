/**
 * The JSON text of a call's answer (`/{deployment}/modules/{module}/{function}`), made
 * from its parts: its shape is fixed, so the keys are written as constant text and only
 * the values are serialized — what `JSON.stringify` of the same object gives, for less
 * work on the route every call takes.
 */
import type { ResultBody } from './context.ts';

/** What a call's answer tells of the call beyond its {@link ResultBody}. */
export interface CallFacts {
  requestId: string;
  durationMs: number;
}

/**
 * `JSON.stringify({result, resultUrl, value, files, requestId, device, durationMs})`,
 * with `device` given as its JSON text already (see `GatewayContext.deviceJson`).
 */
export function callAnswerJson(answer: ResultBody, facts: CallFacts, deviceJson: string): string {
  const { result, value } = answer;
  // Anything but the usual values (a remote answer may hold others) takes the long way, to the same text.
  if (!plain(result) || !plain(value) || typeof facts.durationMs !== 'number' || !Number.isFinite(facts.durationMs) || typeof facts.requestId !== 'string') {
    return JSON.stringify({ result, resultUrl: answer.resultUrl, value, files: answer.files, requestId: facts.requestId, device: JSON.parse(deviceJson) as unknown, durationMs: facts.durationMs });
  }
  return `{"result":${scalar(result)},"resultUrl":${JSON.stringify(answer.resultUrl)},"value":${scalar(value)},"files":${answer.files.length === 0 ? '[]' : JSON.stringify(answer.files)},"requestId":${JSON.stringify(facts.requestId)},"device":${deviceJson},"durationMs":${String(facts.durationMs)}}`;
}

type Plain = string | number | null;

/** A value written the same alone as in an object: a string, a finite number or null. */
function plain(value: unknown): value is Plain {
  return value === null || typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
}

function scalar(value: Plain): string {
  return typeof value === 'number' ? String(value) : JSON.stringify(value);
}
