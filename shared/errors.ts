/**
 * Named errors with stable codes. Every failure a user or a remote peer can see is a
 * {@link MeshError} whose `code` never changes between releases; tests assert the code,
 * and RPC revives the same class on the caller's side from the code alone.
 * @module
 */

/** The wire form of an error: what crosses the network instead of a stack trace. */
export interface ErrorInfo {
  code: string;
  message: string;
  data?: unknown;
}

/** Base class of every LiquidMesh error. */
export class MeshError extends Error {
  /** Stable machine-readable code, `ERR_*`. */
  readonly code: string;
  /** Optional structured detail (must be encodable: plain data only). */
  readonly data: unknown;

  constructor(code: string, message: string, data?: unknown) {
    super(message);
    this.code = code;
    this.data = data;
    this.name = new.target.name;
  }

  /** The wire form of this error. */
  toInfo(): ErrorInfo {
    return this.data === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, data: this.data };
  }
}

type MeshErrorClass = new (message: string, data?: unknown) => MeshError;

const byCode = new Map<string, MeshErrorClass>();

/**
 * Declare an error class with a fixed code. The class is registered so that an error
 * arriving over RPC with this code is revived as an instance of it.
 */
export function defineError(code: string, name: string): MeshErrorClass {
  const cls = {
    [name]: class extends MeshError {
      constructor(message: string, data?: unknown) {
        super(code, message, data);
        this.name = name;
      }
    },
  }[name] as MeshErrorClass;
  byCode.set(code, cls);
  return cls;
}

/** The remote peer left (or the link dropped) while a call to it was pending. */
export const PeerLeftError = defineError('ERR_PEER_LEFT', 'PeerLeftError');
/** No authenticated link to the addressed peer. */
export const PeerUnreachableError = defineError('ERR_PEER_UNREACHABLE', 'PeerUnreachableError');
/** A call got no answer within its time limit. */
export const RpcTimeoutError = defineError('ERR_RPC_TIMEOUT', 'RpcTimeoutError');
/** The caller aborted the operation through its AbortSignal. */
export const AbortedError = defineError('ERR_ABORTED', 'AbortedError');
/** The remote peer has no handler for the method. */
export const MethodNotFoundError = defineError('ERR_METHOD_NOT_FOUND', 'MethodNotFoundError');
/** Parameters of a call, or fields of a record, failed validation. */
export const InvalidParamsError = defineError('ERR_INVALID_PARAMS', 'InvalidParamsError');
/** A message could not be decoded or had the wrong shape. */
export const MalformedMessageError = defineError('ERR_MALFORMED_MESSAGE', 'MalformedMessageError');
/** Bytes did not hash to the content address they were stored or sent under. */
export const HashMismatchError = defineError('ERR_HASH_MISMATCH', 'HashMismatchError');
/** A content address that is not 64 lowercase hex digits. */
export const InvalidHashError = defineError('ERR_INVALID_HASH', 'InvalidHashError');
/** The store has no blob with that hash. */
export const BlobNotFoundError = defineError('ERR_BLOB_NOT_FOUND', 'BlobNotFoundError');
/** A peer's claimed id does not derive from the public key it presented. */
export const IdentityMismatchError = defineError('ERR_IDENTITY_MISMATCH', 'IdentityMismatchError');
/** A peer failed to prove it holds the private key of the id it claims. */
export const BadSignatureError = defineError('ERR_BAD_SIGNATURE', 'BadSignatureError');
/** A payload exceeds the configured maximum. */
export const PayloadTooLargeError = defineError('ERR_PAYLOAD_TOO_LARGE', 'PayloadTooLargeError');
/** The transport or peer is not connected (not started, or already stopped). */
export const NotConnectedError = defineError('ERR_NOT_CONNECTED', 'NotConnectedError');
/** Another transport with the same peer id is already connected to the network. */
export const DuplicatePeerError = defineError('ERR_DUPLICATE_PEER', 'DuplicatePeerError');
/** A remote handler failed with something that was not a MeshError. */
export const RemoteInternalError = defineError('ERR_REMOTE_INTERNAL', 'RemoteInternalError');

/** Turn anything thrown into its wire form; non-mesh errors become ERR_REMOTE_INTERNAL. */
export function toErrorInfo(error: unknown): ErrorInfo {
  if (error instanceof MeshError) return error.toInfo();
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'ERR_REMOTE_INTERNAL', message };
}

/**
 * Revive an error from its wire form: a registered code gives its class, an unknown
 * code still gives a MeshError carrying that code.
 */
export function fromErrorInfo(info: ErrorInfo): MeshError {
  const cls = byCode.get(info.code);
  return cls ? new cls(info.message, info.data) : new MeshError(info.code, info.message, info.data);
}

/** True when `error` is a MeshError with the given code. */
export function hasCode(error: unknown, code: string): boolean {
  return error instanceof MeshError && error.code === code;
}
