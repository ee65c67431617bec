/**
 * The request context of the AWS IoT Core policy dialect: everything a policy variable
 * or a condition key can name, for one connection. The same shape is what
 * `gatehouse policy simulate --context FILE` reads, so a decision made by the broker
 * can be replayed from its inputs alone.
 *
 * Missing values are absent (or null for `thingName`), never empty strings: AWS treats
 * an unresolved variable and a missing condition key specially, and so does Gatehouse.
 */

/** Where ARNs of local resources live: `arn:<partition>:iot:<region>:<accountId>:…`. */
export interface IotDeployment {
  readonly partition: string;
  readonly region: string;
  readonly accountId: string;
}

/**
 * The `gatehouse.iot` defaults. The account id is no real account, so that a policy
 * written for the cloud matches only once the site's account is configured.
 */
export const DEFAULT_IOT_DEPLOYMENT: IotDeployment = Object.freeze({ partition: 'aws', region: 'us-east-1', accountId: '000000000000' });

/**
 * The certificate of a connection. Attribute names are the ones AWS IoT uses in
 * `iot:Certificate.Subject.<Name>`: CommonName, Organization, OrganizationalUnit,
 * Country, State, Locality, SerialNumber, Title, Surname, GivenName, Initials, Pseudonym,
 * GenerationQualifier, DistinguishedNameQualifier. Values are in certificate order.
 */
export interface IotCertificateContext {
  readonly subject: Readonly<Record<string, readonly string[]>>;
  readonly issuer: Readonly<Record<string, readonly string[]>>;
  /** DNSName, IPAddress, RFC822Name, UniformResourceIdentifier, DirectoryName → values. */
  readonly subjectAlternativeName?: Readonly<Record<string, readonly string[]>>;
  readonly issuerAlternativeName?: Readonly<Record<string, readonly string[]>>;
  /** Hex bytes with colons, as openssl prints them (`92:12:85:cb`). */
  readonly serialNumber: string;
  /** ISO 8601. */
  readonly notBefore?: string;
  readonly notAfter?: string;
}

export interface IotContext {
  readonly clientId: string;
  /** The thing associated with the connection; null when there is none. */
  readonly thingName: string | null;
  readonly thingTypeName?: string | null;
  readonly attributes?: Readonly<Record<string, string>>;
  /** Whether the certificate is attached to the thing. */
  readonly isAttached?: boolean;
  readonly certificate?: IotCertificateContext;
  readonly sourceIp?: string;
  /** `PersistentConnect` (clean session off) and `LastWill` (a Will is set). */
  readonly connectAttributes?: readonly string[];
  /** The Will's topic (the topic, not its ARN). */
  readonly lastWillTopic?: string;
  /** ISO 8601; the evaluator's clock when absent. */
  readonly currentTime?: string;
  /** TLS (always true for Gatehouse's MQTT listeners). */
  readonly secureTransport?: boolean;
}

/** One request: an action (`iot:Publish`) on a resource ARN. */
export interface IotRequest {
  readonly action: string;
  readonly resource: string;
  /** For iot:Publish: the PUBLISH has RETAIN set (needs iot:RetainPublish as well). */
  readonly retain?: boolean;
}

/**
 * One defect of a policy document, found at load: a stable code (documented in
 * docs/errors.md), where it is (a JSON path such as `$.Statement[1].Condition`), what is
 * wrong, and how to fix it.
 */
export interface IotPolicyProblem {
  readonly code: string;
  readonly path: string;
  readonly message: string;
  readonly fix: string;
}
