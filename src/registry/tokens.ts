/**
 * API tokens: `stx_<id>_<secret>`, shown once at creation and stored only as a SHA-256 hash.
 * Each has a role; an endpoint names the least role it needs (admin > deployer > reader).
 */
import { createHash, randomBytes } from "node:crypto";
import { StratusError } from "../errors/index.ts";
import type { Registry, Role, TokenInfo } from "./interface.ts";

const FORMAT = /^stx_([a-f0-9]{8})_([A-Za-z0-9_-]{32})$/;
const RANK: Record<Role, number> = { reader: 1, deployer: 2, admin: 3 };

/** The roles, least to most. */
export const ROLES: readonly Role[] = ["reader", "deployer", "admin"];

/** sha256 of a token, hex. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** Creates a token; returns the token (shown once) and what is stored. */
export async function createToken(
  registry: Registry,
  name: string,
  role: Role,
  now: number,
  ttlMs: number | null,
): Promise<{ token: string; info: TokenInfo }> {
  if (!ROLES.includes(role)) throw new StratusError("STRATUS_E_CLI_USAGE", `role "${role}" does not exist; use one of ${ROLES.join(", ")}`);
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name))
    throw new StratusError("STRATUS_E_CLI_USAGE", `token name "${name}" is not valid; use letters, digits, ".", "_" or "-" (at most 64)`);
  const id = randomBytes(4).toString("hex");
  const token = `stx_${id}_${randomBytes(24).toString("base64url")}`;
  const info: TokenInfo = { id, name, role, created: now, expires: ttlMs === null ? null : now + ttlMs, revoked: null };
  await registry.createToken(info, hashToken(token));
  return { token, info };
}

/**
 * Checks an Authorization header and the role an endpoint needs. Throws STRATUS_E_UNAUTHORIZED
 * (missing, malformed, unknown, expired or revoked token) or STRATUS_E_FORBIDDEN (role too low).
 */
export async function authorize(registry: Registry, header: string | undefined, need: Role, now: number): Promise<TokenInfo> {
  if (!header)
    throw new StratusError(
      "STRATUS_E_UNAUTHORIZED",
      "no token: send Authorization: Bearer <token> (the CLI reads --token, $STRATUS_TOKEN, $STRATUS_TOKEN_FILE such as DATA/admin-token, or ~/.stratus/config.json)",
    );
  const m = /^Bearer (\S+)$/.exec(header);
  const token = m?.[1] ?? "";
  if (!FORMAT.test(token))
    throw new StratusError(
      "STRATUS_E_UNAUTHORIZED",
      'the token is malformed: a Stratus token looks like "stx_<8 hex>_<32 characters>"; check for a truncated copy',
    );
  const info = await registry.tokenByHash(hashToken(token));
  // Looked up by its SHA-256: how long the lookup takes says nothing about the secret.
  if (!info) {
    throw new StratusError("STRATUS_E_UNAUTHORIZED", 'the token is not known to this node; create one with "stratus tokens create" (as an admin)');
  }
  if (info.revoked !== null) throw new StratusError("STRATUS_E_UNAUTHORIZED", `token "${info.name}" (${info.id}) was revoked; ask an admin for a new one`);
  if (info.expires !== null && info.expires <= now) {
    throw new StratusError(
      "STRATUS_E_UNAUTHORIZED",
      `token "${info.name}" (${info.id}) expired at ${new Date(info.expires).toISOString()}; ask an admin for a new one`,
    );
  }
  if (RANK[info.role] < RANK[need]) {
    throw new StratusError("STRATUS_E_FORBIDDEN", `token "${info.name}" has role ${info.role}; this needs ${need} or higher`);
  }
  return info;
}
