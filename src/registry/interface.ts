/**
 * The registry of a production node: what is deployed (immutable versions, the active one per
 * service, the applied stack), who may change it (API tokens, stored hashed), secrets (stored
 * encrypted) and the audit log. SqliteRegistry keeps it in the node's data directory; a
 * PostgreSQL registry for clusters implements the same interface.
 *
 * Guarantees: every method that changes something is atomic (all of it or none of it), and a
 * version, once stored, never changes (its id is the digest of its code and config).
 */

/** What a token may do. admin: everything; deployer: plan, apply, deploy, rollback, secrets set; reader: look. */
export type Role = "admin" | "deployer" | "reader";

/** A token as listed (the secret part is never stored, only its hash). */
export interface TokenInfo {
  id: string;
  name: string;
  role: Role;
  created: number;
  /** Epoch ms after which the token no longer works, or null. */
  expires: number | null;
  revoked: number | null;
}

/** An immutable version of one service. */
export interface VersionRecord {
  service: string;
  /** 12 hex digits of sha256(code, config). */
  version: string;
  created: number;
  /** sha256 of the bundle code (hex). */
  digest: string;
  code: string;
  /** The resolved service config, as JSON (entry paths relative). */
  config: string;
}

/** The stack as last applied. */
export interface AppliedStack {
  name: string;
  /** The stack file text. */
  yaml: string;
  /** Active version per service. */
  active: Record<string, string>;
  applied: number;
}

/** One entry of the audit log. */
export interface AuditEntry {
  id: number;
  at: number;
  /** The token name that did it ("node" for the node itself). */
  actor: string;
  action: string;
  detail: Record<string, unknown>;
}

/** An encrypted secret as stored. */
export interface SealedSecret {
  name: string;
  /** base64 of iv (12 bytes) + tag (16 bytes) + ciphertext. */
  sealed: string;
  /** Which master key sealed it (sha256 prefix of the key). */
  keyId: string;
  updated: number;
}

/** The registry. */
export interface Registry {
  /** A stored token by the hash of its secret, or null. */
  tokenByHash(hash: string): TokenInfo | null;
  createToken(info: TokenInfo, hash: string): void;
  tokens(): TokenInfo[];
  /** Revokes a token; false when there is no such token. */
  revokeToken(id: string, at: number): boolean;

  /**
   * Stores a version (the same id is the same content: storing it again rewrites code, digest and
   * config, which repairs a record altered outside Stratus and keeps its creation time).
   */
  putVersion(v: VersionRecord): void;
  /** Deletes a version (one stored by a refused apply); false when there is none. */
  deleteVersion(service: string, version: string): boolean;
  version(service: string, version: string): VersionRecord | null;
  /** Versions of a service, newest first. */
  versions(service: string): VersionRecord[];

  /** The stack as last applied, or null on a new node. */
  stack(): AppliedStack | null;
  /** Records a new applied stack (with its active versions) and an audit entry, atomically. */
  setStack(stack: AppliedStack | null, audit: Omit<AuditEntry, "id">): void;

  putSecret(s: SealedSecret): void;
  deleteSecret(name: string): boolean;
  secrets(): SealedSecret[];
  /** Replaces every secret at once (master key rotation). */
  replaceSecrets(all: SealedSecret[]): void;

  audit(entry: Omit<AuditEntry, "id">): void;
  auditLog(limit: number): AuditEntry[];

  meta(key: string): string | null;
  setMeta(key: string, value: string): void;
  close(): void;
}
