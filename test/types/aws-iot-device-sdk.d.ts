/** The part of aws-iot-device-sdk (JavaScript, no types shipped) the data-plane tests use. */
declare module 'aws-iot-device-sdk' {
  import type { EventEmitter } from 'node:events';

  export interface ThingShadowOptions {
    host: string;
    port: number;
    clientId: string;
    protocol?: 'mqtts';
    caCert: Buffer;
    clientCert: Buffer;
    privateKey: Buffer;
    enableMetrics?: boolean;
    keepalive?: number;
    operationTimeout?: number;
    offlineQueueing?: boolean;
    autoResubscribe?: boolean;
    baseReconnectTimeMs?: number;
    maximumReconnectTimeMs?: number;
  }

  export interface ThingShadow extends EventEmitter {
    register(thingName: string, options: { persistentSubscribe?: boolean; ignoreDeltas?: boolean }, callback: (err?: Error, failedTopics?: unknown) => void): void;
    update(thingName: string, state: unknown): string | null;
    get(thingName: string, clientToken?: string): string | null;
    delete(thingName: string, clientToken?: string): string | null;
    end(force?: boolean, callback?: () => void): void;
  }

  export interface Job {
    id: string;
    document: Record<string, unknown>;
    operation: string | undefined;
    status: { status: string; statusDetails?: Record<string, string> };
    inProgress(statusDetails: Record<string, string> | undefined, callback: (err?: Error) => void): void;
    failed(statusDetails: Record<string, string> | undefined, callback: (err?: Error) => void): void;
    succeeded(statusDetails: Record<string, string> | undefined, callback: (err?: Error) => void): void;
  }

  export interface Jobs extends EventEmitter {
    subscribeToJobs(thingName: string, operationName: string | null, callback: (err: Error | null | undefined, job: Job | null) => void): void;
    startJobNotifications(thingName: string, callback: (err?: Error) => void): void;
    end(force?: boolean, callback?: () => void): void;
  }

  const sdk: { thingShadow: new (options: ThingShadowOptions) => ThingShadow; jobs: new (options: ThingShadowOptions) => Jobs };
  export default sdk;
}
