/**
 * What the AWS IoT control-plane and Greengrass connectivity handlers need. Built once
 * by the management listener; handlers hold no other state.
 */
import type { IotDeployment } from '../../../core/index.js';
import type { GatewayCa } from '../../../ca/authority.js';
import type { ConnectivityInfoStore } from '../../../ca/connectivity.js';
import type { ControlStore } from '../../../identity/control.js';
import type { Registry } from '../../../identity/registry.js';
import type { PolicyStore } from '../../../runtime/policy-store.js';
import type { JobService } from '../../data-plane/job-service.js';
import type { ShadowService } from '../../data-plane/shadow-service.js';

/** What the AWS IoT and Greengrass routes need beyond the management context (the gateway provides it). */
export interface IotControlPlaneExtras {
  /** Issues CreateKeysAndCertificate's certificates. */
  readonly ca: GatewayCa;
  /** The gateway's connectivity information (Greengrass Get/UpdateConnectivityInfo). */
  readonly connectivity: ConnectivityInfoStore;
  /** See IotControlPlaneContext.onConnectivityChanged. */
  readonly onConnectivityChanged: () => Promise<void>;
  /** The jobs service (absent when `gatehouse.jobs.enabled` is false). */
  readonly jobs?: JobService;
  /** The Device Shadow service (absent when `gatehouse.shadows.enabled` is false). */
  readonly shadows?: ShadowService;
}

export interface IotControlPlaneContext {
  readonly registry: Registry;
  readonly control: ControlStore;
  /** Issues CreateKeysAndCertificate's certificates. */
  readonly ca: GatewayCa;
  /** The policies in force (TestAuthorization decides with them). */
  readonly policy: PolicyStore;
  /** `gatehouse.iot`: the partition, region and account of every ARN. */
  readonly deployment: () => IotDeployment;
  /** The gateway's connectivity information (Greengrass Get/UpdateConnectivityInfo). */
  readonly connectivity: ConnectivityInfoStore;
  /**
   * Called after the connectivity information changed: the gateway re-computes the
   * server certificate's host names (configured ones and the connectivity
   * information's) and re-issues it when they differ. Resolves when that is done.
   */
  readonly onConnectivityChanged: () => Promise<void>;
  /** The jobs service; ServiceUnavailableException when it is off. */
  readonly jobs: JobService;
  /** The Device Shadow service; ServiceUnavailableException when it is off. */
  readonly shadows: ShadowService;
  readonly clock: () => Date;
}
