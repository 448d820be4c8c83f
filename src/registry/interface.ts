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

/**
 * The registry. Every method returns a Promise: a networked backend (PostgreSQL on a cluster)
 * answers over the network. The conformance suite every backend runs is registrySuite
 * (conformance.ts).
 */
export interface Registry {
  /** A stored token by the hash of its secret, or null. */
  tokenByHash(hash: string): Promise<TokenInfo | null>;
  /** Stores a new token (by the hash of its secret; a hash already stored is refused). */
  createToken(info: TokenInfo, hash: string): Promise<void>;
  /** Every token, oldest first. */
  tokens(): Promise<TokenInfo[]>;
  /** Revokes a token (an earlier revocation time is kept); false when there is no such token. */
  revokeToken(id: string, at: number): Promise<boolean>;

  /**
   * Stores a version (the same id is the same content: storing it again rewrites code, digest and
   * config, which repairs a record altered outside Stratus and keeps its creation time).
   */
  putVersion(v: VersionRecord): Promise<void>;
  /** Deletes a version (one stored by a refused apply); false when there is none. */
  deleteVersion(service: string, version: string): Promise<boolean>;
  /** One version of a service, or null. */
  version(service: string, version: string): Promise<VersionRecord | null>;
  /** Versions of a service, newest first (by creation time, then by order of storing). */
  versions(service: string): Promise<VersionRecord[]>;

  /** The stack as last applied, or null on a new node. */
  stack(): Promise<AppliedStack | null>;
  /** Records a new applied stack (null: none) and an audit entry, atomically. */
  setStack(stack: AppliedStack | null, audit: Omit<AuditEntry, "id">): Promise<void>;

  /** Stores or replaces a sealed secret. */
  putSecret(s: SealedSecret): Promise<void>;
  /** Deletes a secret; false when there is none. */
  deleteSecret(name: string): Promise<boolean>;
  /** Every secret, by name. */
  secrets(): Promise<SealedSecret[]>;
  /** Replaces every secret at once (master key rotation), atomically. */
  replaceSecrets(all: SealedSecret[]): Promise<void>;

  /** Appends an audit entry. */
  audit(entry: Omit<AuditEntry, "id">): Promise<void>;
  /** The newest `limit` audit entries, newest first. */
  auditLog(limit: number): Promise<AuditEntry[]>;

  /** A value of the node's own bookkeeping (e.g. running canaries), or null. */
  meta(key: string): Promise<string | null>;
  setMeta(key: string, value: string): Promise<void>;
  /** Closes the registry (its file or its connections). */
  close(): Promise<void>;
}
