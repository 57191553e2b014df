/**
 * Who asks a device for capabilities when it loads a deployment's step: the deployment's
 * operator and the verified publisher of the step's module. Where the device's owner
 * requires signed modules, every module the step loads (its providers too) must carry a
 * valid signature by a trusted publisher, or the step fails here, before any byte runs.
 * @module
 */
import type { DeploymentRecord, ModuleRecord } from '../registry/schema.ts';
import type { CapabilityPolicy, Requester } from '../trust/capability-policy.ts';
import { peerIdOfKey } from '../trust/keys.ts';
import { requireSigned, verifiedPublisher } from '../trust/module-signature.ts';

/** Where the signed author of a deployment record is read (`registry.deployments`). */
export interface DeploymentAuthors {
  /** The verified author key (hex) of the valid record of deployment `id`; undefined without roles. */
  authorOf(id: string): string | undefined;
}

/**
 * The operator a deployment acts for (a peer id, as capability offers name operators).
 * In a mesh with roles it is the key that signed the current record (ADR 0025), which
 * no member can forge; the record's `coordinator` field is written by whoever writes the
 * record and is believed only in a mesh without roles, where nothing is signed.
 */
export function deploymentOperator(record: Pick<DeploymentRecord, 'id' | 'coordinator'>, authors?: DeploymentAuthors): string {
  const author = authors?.authorOf(record.id);
  return author !== undefined ? peerIdOfKey(author) : record.coordinator;
}

/**
 * The requester of a step whose modules are `records` (the main module first).
 * @throws ModuleUnsignedError (ERR_MODULE_UNSIGNED) or ModuleSignatureInvalidError
 *   (ERR_MODULE_SIGNATURE_INVALID) when `policy` requires signatures and a module lacks one.
 */
export async function stepRequester(records: readonly ModuleRecord[], operator: string | undefined, policy: CapabilityPolicy | undefined): Promise<Requester> {
  const trusted = policy?.requireSigned;
  if (trusted) for (const m of records) await requireSigned(m, trusted);
  const who: Requester = {};
  if (operator !== undefined) who.operator = operator;
  const main = records[0];
  const publisher = main ? await verifiedPublisher(main) : undefined;
  if (publisher !== undefined) who.publisher = publisher;
  return who;
}
