/**
 * Secrets at rest: AES-256-GCM with a 32-byte master key from STRATUS_MASTER_KEY (base64 or hex)
 * or, without it, a key file created on first start with mode 0600. The secret's name is the
 * additional authenticated data, so a sealed value cannot be moved to another name. Rotation
 * writes the new key beside the old one, re-seals every secret in one transaction, then replaces
 * the key file: a crash in between leaves both keys, and each secret names the key that sealed it.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { chmodSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { StratusError } from "../errors/index.ts";
import type { Registry, SealedSecret } from "./interface.ts";

/** A master key and its id. */
export interface MasterKey {
  key: Buffer;
  /** First 16 hex of sha256(key): stored beside each secret. */
  id: string;
}

function keyOf(key: Buffer): MasterKey {
  return { key, id: createHash("sha256").update(key).digest("hex").slice(0, 16) };
}

function parseKey(text: string, where: string): Buffer {
  const t = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, "hex") : Buffer.from(t, "base64");
  if (key.length !== 32) {
    throw new StratusError(
      "STRATUS_E_SECRETS",
      `${where} is not a 32-byte key; write 64 hex digits or 44 base64 characters (e.g. from "openssl rand -base64 32")`,
    );
  }
  return key;
}

/** Where a node's master keys come from. */
export class MasterKeys {
  readonly #file: string | null;
  #current: MasterKey;
  readonly #others = new Map<string, MasterKey>();

  /** Reads STRATUS_MASTER_KEY, else DIR/master.key (created 0600 when missing). */
  constructor(dataDir: string, env: NodeJS.ProcessEnv = process.env) {
    const fromEnv = env["STRATUS_MASTER_KEY"];
    if (fromEnv) {
      this.#file = null;
      this.#current = keyOf(parseKey(fromEnv, "STRATUS_MASTER_KEY"));
      return;
    }
    this.#file = join(dataDir, "master.key");
    if (!existsSync(this.#file)) writeFileSync(this.#file, `${randomBytes(32).toString("base64")}\n`, { mode: 0o600 });
    this.#current = keyOf(parseKey(readFileSync(this.#file, "utf8"), this.#file));
    // A rotation that stopped half-way left the new key beside the old one.
    const pending = `${this.#file}.new`;
    if (existsSync(pending)) {
      const k = keyOf(parseKey(readFileSync(pending, "utf8"), pending));
      this.#others.set(k.id, k);
    }
  }

  get current(): MasterKey {
    return this.#current;
  }

  /** Seals `value` under the current key. */
  seal(name: string, value: string, now: number): SealedSecret {
    return sealWith(this.#current, name, value, now);
  }

  /** Opens a sealed secret with the key that sealed it. */
  open(s: SealedSecret): string {
    const k = s.keyId === this.#current.id ? this.#current : this.#others.get(s.keyId);
    if (!k) {
      throw new StratusError(
        "STRATUS_E_SECRETS",
        `secret "${s.name}" was sealed with master key ${s.keyId}, and this node has ${this.#current.id}; start the node with the key it was set with`,
      );
    }
    const raw = Buffer.from(s.sealed, "base64");
    const d = createDecipheriv("aes-256-gcm", k.key, raw.subarray(0, 12));
    d.setAAD(Buffer.from(s.name));
    d.setAuthTag(raw.subarray(12, 28));
    try {
      return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString("utf8");
    } catch {
      throw new StratusError("STRATUS_E_SECRETS", `secret "${s.name}" does not decrypt: it was altered or sealed for another name`);
    }
  }

  /** Rotates the key file's key (not possible with STRATUS_MASTER_KEY: set a new one and restart). */
  async rotate(registry: Registry, now: number): Promise<MasterKey> {
    if (this.#file === null) {
      throw new StratusError(
        "STRATUS_E_SECRETS",
        "the master key comes from STRATUS_MASTER_KEY; rotation re-encrypts with a key file only: unset it to use DATA/master.key, or re-set the secrets under a new key",
      );
    }
    // The caller serialises rotation with every other secret write (the node's apply lock): the
    // secrets read here are all the secrets there are until replaceSecrets() lands.
    const values = (await registry.secrets()).map((s) => [s.name, this.open(s)] as const);
    const next = keyOf(randomBytes(32));
    const pending = `${this.#file}.new`;
    writeFileSync(pending, `${next.key.toString("base64")}\n`, { mode: 0o600 });
    // Known (for open) from before the write, current (for seal) only once it landed.
    this.#others.set(next.id, next);
    try {
      await registry.replaceSecrets(values.map(([name, v]) => sealWith(next, name, v, now)));
    } catch (err) {
      this.#others.delete(next.id);
      rmSync(pending, { force: true });
      throw err;
    }
    this.#current = next;
    renameSync(pending, this.#file);
    chmodSync(this.#file, 0o600);
    this.#others.delete(next.id);
    return next;
  }
}

/** Seals `value` (bound to `name`) under `k`: AES-256-GCM, a random 12-byte iv. */
function sealWith(k: MasterKey, name: string, value: string, now: number): SealedSecret {
  const iv = randomBytes(12);
  const c = createCipheriv("aes-256-gcm", k.key, iv);
  c.setAAD(Buffer.from(name));
  const ct = Buffer.concat([c.update(value, "utf8"), c.final()]);
  return { name, sealed: Buffer.concat([iv, c.getAuthTag(), ct]).toString("base64"), keyId: k.id, updated: now };
}
