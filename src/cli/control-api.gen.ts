// Generated from docs/control-api.openapi.json by scripts/gen-control-types.ts: do not edit.
/* eslint-disable */

/** Every endpoint of the node API: its request and 200 response bodies. */
export interface Endpoints {
  "GET /metrics": { request: never; response: GetMetricsResponse };
  "GET /v1/status": { request: never; response: GetV1StatusResponse };
  "GET /v1/events/subscriptions": { request: never; response: GetV1EventsSubscriptionsResponse };
  "POST /v1/events/topics/{topic}": { request: PostV1EventsTopicsTopicRequest; response: PostV1EventsTopicsTopicResponse };
  "GET /v1/events/topics/{topic}": { request: never; response: GetV1EventsTopicsTopicResponse };
  "GET /v1/events/subscriptions/{name}/dead": { request: never; response: GetV1EventsSubscriptionsNameDeadResponse };
  "POST /v1/events/subscriptions/{name}/redrive": {
    request: PostV1EventsSubscriptionsNameRedriveRequest;
    response: PostV1EventsSubscriptionsNameRedriveResponse;
  };
  "POST /v1/events/subscriptions/{name}/replay": { request: PostV1EventsSubscriptionsNameReplayRequest; response: PostV1EventsSubscriptionsNameReplayResponse };
  "GET /v1/invocations/{id}": { request: never; response: GetV1InvocationsIdResponse };
  "GET /v1/openapi.json": { request: never; response: GetV1OpenapiJsonResponse };
  "POST /v1/plan": { request: PostV1PlanRequest; response: PostV1PlanResponse };
  "POST /v1/apply": { request: PostV1ApplyRequest; response: PostV1ApplyResponse };
  "POST /v1/services/{name}/deploy": { request: PostV1ServicesNameDeployRequest; response: PostV1ServicesNameDeployResponse };
  "POST /v1/services/{name}/promote": { request: PostV1ServicesNamePromoteRequest; response: PostV1ServicesNamePromoteResponse };
  "GET /v1/services/{name}/versions": { request: never; response: GetV1ServicesNameVersionsResponse };
  "POST /v1/services/{name}/rollback": { request: PostV1ServicesNameRollbackRequest; response: PostV1ServicesNameRollbackResponse };
  "GET /v1/stack": { request: never; response: GetV1StackResponse };
  "DELETE /v1/stack": { request: never; response: DeleteV1StackResponse };
  "GET /v1/tokens": { request: never; response: GetV1TokensResponse };
  "POST /v1/tokens": { request: PostV1TokensRequest; response: PostV1TokensResponse };
  "DELETE /v1/tokens/{id}": { request: never; response: DeleteV1TokensIdResponse };
  "GET /v1/secrets": { request: never; response: GetV1SecretsResponse };
  "PUT /v1/secrets/{name}": { request: PutV1SecretsNameRequest; response: PutV1SecretsNameResponse };
  "DELETE /v1/secrets/{name}": { request: never; response: DeleteV1SecretsNameResponse };
  "POST /v1/secrets/rotate": { request: PostV1SecretsRotateRequest; response: PostV1SecretsRotateResponse };
  "GET /v1/logs": { request: never; response: GetV1LogsResponse };
  "GET /v1/audit": { request: never; response: GetV1AuditResponse };
}

export interface GetMetricsResponse {}
export interface GetV1StatusResponse {
  stack: string;
  services: {
    [k: string]: unknown;
  }[];
}
export interface GetV1EventsSubscriptionsResponse {}
export interface PostV1EventsTopicsTopicResponse {}
export interface PostV1EventsTopicsTopicRequest {}
export interface GetV1EventsTopicsTopicResponse {}
export interface GetV1EventsSubscriptionsNameDeadResponse {}
export interface PostV1EventsSubscriptionsNameRedriveResponse {}
export interface PostV1EventsSubscriptionsNameRedriveRequest {}
export interface PostV1EventsSubscriptionsNameReplayResponse {}
export interface PostV1EventsSubscriptionsNameReplayRequest {}
export interface GetV1InvocationsIdResponse {}
export interface GetV1OpenapiJsonResponse {}
export interface PostV1PlanResponse {
  plan: {
    stack: string;
    changes: {
      kind: "service" | "topic" | "stack";
      name: string;
      action: "add" | "change" | "remove";
      details: string[];
    }[];
    versions: {
      [k: string]: string;
    };
  };
  text: string;
}
export interface PostV1PlanRequest {
  yaml: string;
  bundles: {
    service: string;
    /**
     * sha256 of code, hex
     */
    digest: string;
  }[];
}
export interface PostV1ApplyResponse {
  plan: {
    stack: string;
    changes: {
      kind: "service" | "topic" | "stack";
      name: string;
      action: "add" | "change" | "remove";
      details: string[];
    }[];
    versions: {
      [k: string]: string;
    };
  };
  text: string;
  outcomes: {
    [k: string]: unknown;
  }[];
}
export interface PostV1ApplyRequest {
  yaml: string;
  bundles: {
    service: string;
    /**
     * sha256 of code, hex
     */
    digest: string;
    code: string;
  }[];
}
export interface PostV1ServicesNameDeployResponse {
  plan: {
    stack: string;
    changes: {
      kind: "service" | "topic" | "stack";
      name: string;
      action: "add" | "change" | "remove";
      details: string[];
    }[];
    versions: {
      [k: string]: string;
    };
  };
  text: string;
  version: string;
  canary: {
    version: string;
    percent: number;
    sticky:
      | {
          header: string;
        }
      | {
          cookie: string;
        }
      | null;
    maxErrorRate: number;
    windowMs: number;
    minRequests: number;
    started: number;
  } | null;
}
export interface PostV1ServicesNameDeployRequest {
  yaml: string;
  bundles: {
    service: string;
    /**
     * sha256 of code, hex
     */
    digest: string;
    code: string;
  }[];
  canary?:
    | number
    | {
        percent: number;
        stickyHeader?: string;
        stickyCookie?: string;
        maxErrorRate?: number;
        window?: string;
        minRequests?: number;
      };
}
export interface PostV1ServicesNamePromoteResponse {
  version: string;
}
export interface PostV1ServicesNamePromoteRequest {}
export interface GetV1ServicesNameVersionsResponse {
  service: string;
  versions: {
    version: string;
    created: number;
    digest: string;
    active: boolean;
  }[];
}
export interface PostV1ServicesNameRollbackResponse {
  version: string;
  text: string;
}
export interface PostV1ServicesNameRollbackRequest {
  to?: string;
}
export interface GetV1StackResponse {
  stack: string | null;
  active: {
    [k: string]: string;
  };
  canaries: {
    [k: string]: {
      version: string;
      percent: number;
      sticky:
        | {
            header: string;
          }
        | {
            cookie: string;
          }
        | null;
      maxErrorRate: number;
      windowMs: number;
      minRequests: number;
      started: number;
    };
  };
}
export interface DeleteV1StackResponse {
  removed: string[];
}
export interface GetV1TokensResponse {
  tokens: {
    id: string;
    name: string;
    role: "admin" | "deployer" | "reader";
    created: number;
    expires: number | null;
    revoked: number | null;
  }[];
}
export interface PostV1TokensResponse {
  id: string;
  name: string;
  role: "admin" | "deployer" | "reader";
  created: number;
  expires: number | null;
  revoked: number | null;
  token: string;
}
export interface PostV1TokensRequest {
  name: string;
  role: "admin" | "deployer" | "reader";
  ttl?: string;
}
export interface DeleteV1TokensIdResponse {
  revoked: string;
}
export interface GetV1SecretsResponse {
  secrets: {
    name: string;
    updated: number;
    keyId: string;
  }[];
}
export interface PutV1SecretsNameResponse {
  name: string;
}
export interface PutV1SecretsNameRequest {
  value: string;
}
export interface DeleteV1SecretsNameResponse {
  deleted: string;
}
export interface PostV1SecretsRotateResponse {
  keyId: string;
}
export interface PostV1SecretsRotateRequest {}
export interface GetV1LogsResponse {
  lines: {
    [k: string]: unknown;
  }[];
}
export interface GetV1AuditResponse {
  entries: {
    id: number;
    at: number;
    actor: string;
    action: string;
    detail: {
      [k: string]: unknown;
    };
  }[];
}
