/**
 * Every request and response of the local API as zod schemas: the single source for
 * request validation (converted to JSON Schema draft-7 for fastify's Ajv: zod 4 emits
 * draft 2020-12 by default, which fastify 5's Ajv rejects) and for the OpenAPI document (`GET /openapi.json`,
 * docs/openapi.json).
 *
 * Request and response field names are the IPC operations' (docs/greengrass-behaviour.md, section 9). Request
 * objects of the IPC operations are strict: an unknown field is a 400 naming it, so a
 * misspelt field never passes unnoticed. The EMQX bodies are loose, because the
 * operator writes their template.
 */
import { z } from 'zod';
import { DECISION_REASONS } from '../core/index.js';
import { VERIFY_REASONS, SESSION_REASONS } from '../identity/errors.js';
import { API_RESPONSE_CODES, EXPLAIN_REASONS } from './errors.js';

const nonEmpty = (description: string) => z.string().min(1).describe(description);
/**
 * Not empty and not only whitespace: the reference treats a blank field as missing and
 * refuses it before any lookup, so a blank certificate, operation or resource is a 400
 * here too, never a verification or a decision.
 */
const nonBlank = (description: string) => z.string().min(1).regex(/\S/, 'must not be blank').describe(description);

// ------------------------------------------------------------------ IPC operations

export const VerifyRequest = z.strictObject({
  credential: z.strictObject({
    clientDeviceCertificate: nonBlank('Client certificate, PEM (optionally followed by intermediate CA certificates), or bare base64 DER'),
  }),
}).describe('VerifyClientDeviceIdentity request');

export const VerifyResponse = z.object({
  isValidClientDevice: z.boolean().describe('true when the certificate chains to a trusted device CA, is within its validity period, registered and ACTIVE'),
  reason: z.enum(VERIFY_REASONS).optional().describe('Why the certificate is not valid (absent when it is); see docs/identity.md'),
});

export const TokenRequest = z.strictObject({
  credential: z.strictObject({
    mqttCredential: z.strictObject({
      clientId: nonEmpty('MQTT client ID; must be the thing name'),
      certificatePem: nonEmpty('Client certificate the device presented, PEM (optionally followed by intermediates), or bare base64 DER'),
      // null is absent: the reference's own clients send null for a CONNECT without credentials.
      username: z.string().nullable().optional().describe('Accepted for compatibility (null means absent); not used'),
      password: z.string().nullable().optional().describe('Accepted for compatibility (null means absent); not used and never logged'),
    }),
  }),
}).describe('GetClientDeviceAuthToken request');

export const TokenResponse = z.object({
  clientDeviceAuthToken: z.string().describe('Opaque session token (256 random bits, base64url). Keep it secret; it authorizes this device\'s actions'),
});

export const AuthorizeRequest = z.strictObject({
  clientDeviceAuthToken: nonBlank('Token from get-client-device-auth-token'),
  operation: nonBlank('mqtt:connect, mqtt:publish or mqtt:subscribe'),
  resource: nonBlank('mqtt:clientId:ID, mqtt:topic:TOPIC or mqtt:topicfilter:FILTER'),
}).describe('AuthorizeClientDeviceAction request');

export const AuthorizeResponse = z.object({
  isAuthorized: z.boolean(),
  reason: z.enum(DECISION_REASONS).describe('Decision reason; see docs/errors.md#decision-reasons'),
});

/** Most entries in one batch authorization request (the body limit may allow fewer). */
export const AUTHORIZE_BATCH_MAX = 1000;

export const AuthorizeBatchRequest = z.strictObject({
  requests: z.array(AuthorizeRequest).min(1).max(AUTHORIZE_BATCH_MAX)
    .describe(`1 to ${AUTHORIZE_BATCH_MAX} authorization requests, each exactly the body of authorize-client-device-action (its own token, operation and resource); the body must also fit gatehouse.api.bodyLimitBytes`),
}).describe('Batch of AuthorizeClientDeviceAction requests (Gatehouse extension)');

export const AuthorizeBatchResult = z.object({
  isAuthorized: z.boolean().describe('false for an entry whose token names no live session'),
  reason: z.enum(DECISION_REASONS).optional().describe('Decision reason, as authorize-client-device-action answers it; absent when `error` is present'),
  error: z.object({
    code: z.literal('InvalidClientDeviceAuthTokenError'),
    message: z.string(),
  }).optional().describe('The entry\'s token is unknown, closed or expired: what authorize-client-device-action answers with 404'),
});

export const AuthorizeBatchResponse = z.object({
  results: z.array(AuthorizeBatchResult).describe('One result per request, in the order of `requests`'),
});

export const CertificateUpdatesQuery = z.strictObject({
  certificateType: z.enum(['SERVER']).describe('Only SERVER is supported, as in the IPC operation'),
});

export const CertificateUpdateEvent = z.object({
  certificate: z.string().describe('Server certificate, PEM'),
  privateKey: z.string().describe('Its private key, PEM PKCS#8, unencrypted'),
  publicKey: z.string().describe('Its public key, PEM SubjectPublicKeyInfo'),
  caCertificates: z.array(z.string()).describe('The issuing CA certificate first, then the rest of its chain, PEM each'),
}).describe('Data of each `certificateUpdate` server-sent event');

// ------------------------------------------------------------------ Gatehouse additions

const Attributes = z.record(z.string(), z.string());

export const ExplainRequest = z.strictObject({
  thingName: nonEmpty('Thing name'),
  clientId: z.string().min(1).optional().describe('Client ID (default: the thing name)'),
  attributes: Attributes.optional().describe('Thing attributes for policy variables (default: the registry\'s attributes of the thing, if it exists). Not with `action` or `certificateId`: a registered thing\'s connection uses the registry\'s'),
  operation: nonEmpty('mqtt:connect, mqtt:publish or mqtt:subscribe. Give `operation` or `action`').optional(),
  action: nonEmpty('An AWS IoT action (iot:Connect, iot:Publish, iot:Subscribe, iot:Receive, iot:RetainPublish, iot:GetThingShadow, ...), decided for the registered thing. Give `operation` or `action`').optional(),
  resource: nonEmpty('With `operation`: mqtt:clientId:ID, mqtt:topic:TOPIC or mqtt:topicfilter:FILTER. With `action`: an ARN of this gateway (arn:PARTITION:iot:REGION:ACCOUNT:TYPE/NAME) or TYPE/NAME'),
  retain: z.boolean().optional().describe('A retained publish (iot:Publish or mqtt:publish): also needs iot:RetainPublish where IoT policies decide'),
  certificateId: z.string().min(1).optional().describe('The certificate that connects (id or unique prefix); required when several are attached to the thing'),
  sourceIp: z.string().min(1).optional().describe('The device\'s address, for aws:SourceIp conditions'),
});

const IotStatementMatch = z.object({
  effect: z.enum(['Allow', 'Deny']),
  action: z.string(),
  policy: z.string(),
  statement: z.string().describe('The statement\'s Sid, or its 0-based index'),
  statementIndex: z.number().int(),
  resources: z.array(z.string()).describe('The matching Resource entries, variables substituted (empty for NotResource)'),
});

export const ExplainResponse = z.object({
  allowed: z.boolean(),
  reason: z.enum(DECISION_REASONS),
  dialect: z.enum(['greengrass', 'iot']).optional().describe('The dialect that decided (connection explanations only)'),
  group: z.string().optional(),
  policy: z.string().optional(),
  statement: z.string().optional(),
  resourcePattern: z.string().optional().describe('The deciding statement\'s resource with variables resolved'),
  decidingAction: z.string().optional().describe('IoT: the action whose evaluation decided (iot:RetainPublish when a retained publish fails on it)'),
  thingName: z.string(),
  clientId: z.string(),
  operation: z.string().describe('The operation asked, or the IoT action'),
  action: z.string().optional().describe('The IoT action asked (its documented spelling)'),
  resource: z.string().describe('The resource asked (an IoT request\'s as a full ARN)'),
  retain: z.boolean().optional(),
  certificateId: z.string().optional().describe('The certificate of the connection explained'),
  attributes: Attributes.describe('The attributes the decision used'),
  attributesFrom: z.enum(['request', 'registry', 'none']).describe('Where the attributes came from'),
  groups: z.array(z.object({ name: z.string(), policy: z.string() })),
  matches: z.array(z.object({
    effect: z.enum(['ALLOW', 'DENY']), group: z.string(), policy: z.string(), statement: z.string(), pattern: z.string(), resolved: z.string(),
  })).describe('Every matching Greengrass statement, the deciding one first'),
  iotPolicies: z.array(z.string()).optional().describe('The AWS IoT policies in force for the connection (certificate, thing groups, device groups)'),
  missingIotPolicies: z.array(z.string()).optional().describe('IoT policies the connection names that do not exist (every IoT decision is then IOT_POLICY_NOT_FOUND)'),
  iotMatches: z.array(IotStatementMatch).optional().describe('Every applying AWS IoT statement, Deny first'),
  message: z.string(),
});

export const SessionInfo = z.object({
  id: z.string().describe('Non-secret session handle (not the token)'),
  clientId: z.string(),
  thingName: z.string(),
  certificateId: z.string(),
  trustedCaId: z.string(),
  attributes: Attributes,
  createdAt: z.string(),
  lastUsedAt: z.string(),
  certificateNotAfter: z.string(),
});

export const SessionsResponse = z.object({
  sessions: z.array(SessionInfo).describe('Live sessions, least recently used first (broker connections and API tokens)'),
  maxActiveAuthTokens: z.number().int(),
});

export const SessionParams = z.strictObject({
  token: nonEmpty('A session token (clientDeviceAuthToken)'),
});

export const HealthResponse = z.object({ status: z.literal('ok') });

// ------------------------------------------------------------------ EMQX 5 HTTP adapter

export const EmqxAuthnRequest = z.looseObject({
  clientid: z.string().describe('${clientid}: must be the thing name'),
  cert_common_name: z.string().optional().describe('${cert_common_name}: must equal the client ID'),
  cert_subject: z.string().optional().describe('${cert_subject}: logged only'),
  username: z.string().optional().describe('${username}: with peer_cert_as_username = pem, the client certificate PEM (full verification)'),
  password: z.string().optional().describe('${password}: not used'),
  peerhost: z.string().optional().describe('${peerhost}: logged only'),
}).describe('EMQX 5 HTTP authentication request (operator-defined template, JSON body)');

export const EmqxAuthnResponse = z.object({
  result: z.enum(['allow', 'deny']),
  is_superuser: z.literal(false),
});

export const EmqxAuthzRequest = z.looseObject({
  clientid: z.string().describe('${clientid}: the thing name'),
  action: z.string().describe('${action}: publish or subscribe'),
  topic: z.string().describe('${topic}: topic (publish) or topic filter (subscribe)'),
  cert_common_name: z.string().optional().describe('${cert_common_name}: if present, must equal the client ID'),
  username: z.string().optional(),
  peerhost: z.string().optional(),
}).describe('EMQX 5 HTTP authorization request (operator-defined template, JSON body)');

export const EmqxAuthzResponse = z.object({ result: z.enum(['allow', 'deny']) });

// ------------------------------------------------------------------ errors

export const ErrorResponse = z.object({
  error: z.object({
    code: z.enum(Object.keys(API_RESPONSE_CODES) as [keyof typeof API_RESPONSE_CODES, ...(keyof typeof API_RESPONSE_CODES)[]]),
    message: z.string(),
    path: z.string().optional().describe('JSON path of the offending field (API_INVALID_REQUEST); "" for the whole body'),
    reason: z.enum([...new Set<string>([...SESSION_REASONS, ...EXPLAIN_REASONS])] as [string, ...string[]]).optional()
      .describe('Identity reason (InvalidCredentialError, see docs/identity.md), or why an explain request cannot be answered (API_INVALID_REQUEST, see docs/api.md)'),
  }),
});

export type VerifyRequestBody = z.infer<typeof VerifyRequest>;
export type TokenRequestBody = z.infer<typeof TokenRequest>;
export type AuthorizeRequestBody = z.infer<typeof AuthorizeRequest>;
export type AuthorizeBatchRequestBody = z.infer<typeof AuthorizeBatchRequest>;
export type ExplainRequestBody = z.infer<typeof ExplainRequest>;
export type CertificateUpdate = z.infer<typeof CertificateUpdateEvent>;
export type SessionInfoBody = z.infer<typeof SessionInfo>;

/** JSON Schema for fastify's validator (draft-7: fastify 5's Ajv rejects 2020-12). */
export function validationSchema(schema: z.ZodType): Record<string, unknown> {
  return z.toJSONSchema(schema, { target: 'draft-7', io: 'input' });
}
