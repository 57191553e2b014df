/**
 * Named errors of the orchestrator: manifests, the package manager, placement,
 * deployments and topics. Codes are stable; RPC revives them on the caller's side.
 * @module
 */
import { defineError } from '../errors.ts';

/** A manifest has the wrong shape; the message names the path. */
export const InvalidManifestError = defineError('ERR_INVALID_MANIFEST', 'InvalidManifestError');
/** A manifest or call names a module no one published. */
export const UnknownModuleError = defineError('ERR_UNKNOWN_MODULE', 'UnknownModuleError');
/** A manifest names a function the module does not describe. */
export const UnknownFunctionError = defineError('ERR_UNKNOWN_FUNCTION', 'UnknownFunctionError');
/** A manifest pins a device the registry does not know. */
export const UnknownDeviceError = defineError('ERR_UNKNOWN_DEVICE', 'UnknownDeviceError');
/** No alive device can host a step; `data.rejected` says why each was refused. */
export const NoPlacementError = defineError('ERR_NO_PLACEMENT', 'NoPlacementError');
/** A module imports from a module no one published (runtime linking). */
export const MissingProviderError = defineError('ERR_MISSING_PROVIDER', 'MissingProviderError');
/** Modules import from each other in a cycle. */
export const CyclicDependencyError = defineError('ERR_CYCLIC_DEPENDENCY', 'CyclicDependencyError');
/**
 * A module version is still used by a deployment: it cannot be removed, nor its
 * description changed under it (data: `{ deployment }`).
 */
export const ModuleInUseError = defineError('ERR_MODULE_IN_USE', 'ModuleInUseError');
/**
 * A deployment with that id exists and the request did not say it replaces it (data:
 * `{ deployment }`): a new deployment never silently takes an existing one's place.
 */
export const DeploymentExistsError = defineError('ERR_DEPLOYMENT_EXISTS', 'DeploymentExistsError');
/** No deployment of that id or name. */
export const UnknownDeploymentError = defineError('ERR_UNKNOWN_DEPLOYMENT', 'UnknownDeploymentError');
/** The deployment is not ready to execute (still deploying, failed or deleted). */
export const DeploymentNotReadyError = defineError('ERR_DEPLOYMENT_NOT_READY', 'DeploymentNotReadyError');
/** The deployment failed; it was rolled back when it had a previous revision. */
export const DeploymentFailedError = defineError('ERR_DEPLOYMENT_FAILED', 'DeploymentFailedError');
/** A module published or subscribed to a topic its deployment does not grant (defined beside the topic matching). */
export { TopicDeniedError } from '../protocol/topics.ts';
/** A live migration did not complete; the source serves on with its state (data: `{ reason, code? }`). */
export const MigrationFailedError = defineError('ERR_MIGRATION_FAILED', 'MigrationFailedError');
/**
 * A hot standby refused state from a primary it no longer follows (it was promoted, or a
 * newer epoch names another primary): that primary must not answer (ADR 0038).
 */
export const StandbyFencedError = defineError('ERR_STANDBY_FENCED', 'StandbyFencedError');
/** A peer was asked to act as a hot standby of a module it holds no warm copy of. */
export const NotStandbyError = defineError('ERR_NOT_STANDBY', 'NotStandbyError');
/** A primary could not bring a standby up to date; the call is not acknowledged (data: `{ standby }`). */
export const StandbySyncError = defineError('ERR_STANDBY_SYNC', 'StandbySyncError');
/** A live migration of the same deployment is already under way. */
export const MigrationInProgressError = defineError('ERR_MIGRATION_IN_PROGRESS', 'MigrationInProgressError');
