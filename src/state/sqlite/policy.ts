/**
 * What SQL a service may run on its own database: SQLite's authorizer decides at prepare time, so
 * every path (query, batch, exec with many statements, triggers, views) is checked the same way.
 * A service's database must be exactly that database: no ATTACH (which reaches other files, and
 * which VACUUM INTO and `file:` URIs go through), no extension loading, and only pragmas that
 * cannot reach outside the file nor lift the limits the platform sets on the connection.
 */
import { constants, type DatabaseSync } from "node:sqlite";
import { StratusError } from "../../errors/index.ts";

/**
 * Pragmas a service may run, read or set. Each is confined to the service's own database and
 * lifts no limit: introspection, integrity checks, and the per-connection flags of the SQL
 * language itself (foreign keys, recursive triggers, user_version for migrations).
 */
const PRAGMAS_READ_WRITE = new Set([
  "application_id",
  "user_version",
  "foreign_keys",
  "defer_foreign_keys",
  "recursive_triggers",
  "case_sensitive_like",
  "reverse_unordered_selects",
  "automatic_index",
  "optimize",
  "analysis_limit",
  "incremental_vacuum",
]);

/** Pragmas that take a table or index name (or nothing) and only report on the schema. */
const PRAGMAS_INSPECT = new Set([
  "table_info",
  "table_xinfo",
  "table_list",
  "index_list",
  "index_info",
  "index_xinfo",
  "foreign_key_list",
  "foreign_key_check",
  "integrity_check",
  "quick_check",
  "collation_list",
  "function_list",
  "module_list",
  "pragma_list",
  "compile_options",
]);

/** Pragmas a service may read but not set: setting them would lift a limit or break the file. */
const PRAGMAS_READ_ONLY = new Set([
  "page_count",
  "page_size",
  "max_page_count",
  "freelist_count",
  "schema_version",
  "data_version",
  "encoding",
  "journal_mode",
  "auto_vacuum",
]);

/** Virtual-table modules a service may create: full-text search and spatial indexes. */
const VTABLE_MODULES = new Set(["fts3", "fts4", "fts5", "rtree", "rtree_i32", "geopoly"]);

/** Functions no service may call. */
const DENIED_FUNCTIONS = new Set(["load_extension", "fts3_tokenizer"]);

const C = constants;

function denied(what: string, why: string): StratusError {
  return new StratusError("STRATUS_E_SQL_DENIED", `SQL: ${what} is not allowed: ${why}. See "SQL a service may run" in docs/runtime.md`);
}

/**
 * Installs the policy on `db` and turns on SQLite's defensive mode (no writable_schema, no
 * direct writes to the schema tables). The returned switch lets the platform run its own pragmas
 * (max_page_count for the storage quota) past the policy; nothing a service sends can flip it.
 */
export function installSqlPolicy(db: DatabaseSync): { trusted<T>(fn: () => T): T } {
  let trusted = false;
  db.enableDefensive(true);
  db.setAuthorizer((action, arg1, arg2) => {
    if (trusted) return C.SQLITE_OK;
    switch (action) {
      case C.SQLITE_ATTACH:
        // VACUUM attaches a private temporary database named "" to rebuild the file; any other
        // ATTACH (a path, a file: URI, :memory:, VACUUM INTO a path) reaches outside.
        if (arg1 === "") return C.SQLITE_OK;
        throw denied(`ATTACH ${JSON.stringify(arg1)} (or VACUUM INTO)`, "a service's SQL binding reaches only its own database");
      case C.SQLITE_DETACH:
        throw denied("DETACH", "a service's SQL binding reaches only its own database");
      case C.SQLITE_PRAGMA: {
        const name = (arg1 ?? "").toLowerCase();
        if (PRAGMAS_INSPECT.has(name) || PRAGMAS_READ_WRITE.has(name)) return C.SQLITE_OK;
        if (PRAGMAS_READ_ONLY.has(name)) {
          if (arg2 === null) return C.SQLITE_OK;
          throw denied(`PRAGMA ${name} = ${arg2}`, `${name} may be read but not set`);
        }
        throw denied(`PRAGMA ${name}`, "only pragmas confined to the service's own data are allowed");
      }
      case C.SQLITE_FUNCTION:
        if (arg2 !== null && DENIED_FUNCTIONS.has(arg2.toLowerCase())) throw denied(`the function ${arg2}()`, "it reaches outside the database");
        return C.SQLITE_OK;
      case C.SQLITE_CREATE_VTABLE:
        if (arg2 !== null && VTABLE_MODULES.has(arg2.toLowerCase())) return C.SQLITE_OK;
        throw denied(`CREATE VIRTUAL TABLE ... USING ${arg2 ?? "?"}`, `the modules allowed are ${[...VTABLE_MODULES].join(", ")}`);
      default:
        return C.SQLITE_OK;
    }
  });
  return {
    trusted<T>(fn: () => T): T {
      trusted = true;
      try {
        return fn();
      } finally {
        trusted = false;
      }
    },
  };
}
