/**
 * A raw MQTT connection over TLS for tests that need a client to break the protocol's
 * flow on purpose (never send PUBREL, exceed a limit): packets are encoded and decoded
 * by mqtt-packet, written as given, and every packet received is recorded.
 */
import assert from 'node:assert/strict';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import mqttPacket, { type IConnectPacket, type Packet } from 'mqtt-packet';
import type { Device } from './gateway.js';

export class RawConnection {
  readonly received: Packet[] = [];
  readonly closed: Promise<void>;
  private readonly waiters = new Set<() => void>();

  private constructor(private readonly socket: TLSSocket, readonly protocolVersion: 4 | 5) {
    const parser = mqttPacket.parser({ protocolVersion });
    parser.on('packet', (p: Packet) => {
      this.received.push(p);
      for (const w of [...this.waiters]) w();
    });
    socket.on('data', (b: Buffer) => parser.parse(b));
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => {
      for (const w of [...this.waiters]) w();
      resolve();
    }));
  }

  /** Opens a TLS connection as device `d`, speaking MQTT 3.1.1 (4) or 5. */
  static open(url: string, d: Device, protocolVersion: 4 | 5 = 4): Promise<RawConnection> {
    const u = new URL(url);
    return new Promise((resolve, reject) => {
      const s = tlsConnect({ host: u.hostname, port: Number(u.port), key: d.key, cert: d.cert, ca: d.ca, servername: 'localhost' }, () => resolve(new RawConnection(s, protocolVersion)));
      s.once('error', reject);
    });
  }

  /** Resolves when the gateway closed the connection; rejects if it is still open after `timeoutMs`. */
  closedWithin(timeoutMs = 10_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`the connection is still open after ${timeoutMs} ms`)), timeoutMs);
    });
    return Promise.race([this.closed, late]).finally(() => clearTimeout(timer));
  }

  get isClosed(): boolean {
    return this.socket.destroyed;
  }

  send(...packets: Packet[]): void {
    this.socket.write(Buffer.concat(packets.map((p) => mqttPacket.generate(p, { protocolVersion: this.protocolVersion }))));
  }

  /** Resolves once `count` packets matching `pred` were received; rejects if the connection closes first. */
  waitFor(pred: (p: Packet) => boolean, count = 1, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.received.filter(pred).length >= count) finish(resolve);
        else if (this.socket.destroyed) finish(() => reject(new Error(`connection closed after ${this.received.filter(pred).length} of ${count} packets`)));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`${this.received.filter(pred).length} of ${count} packets within ${timeoutMs} ms`))), timeoutMs);
      const finish = (f: () => void): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        f();
      };
      this.waiters.add(check);
      check();
    });
  }

  /** CONNECT (a clean session unless `extra` says otherwise), expecting CONNACK success; returns the CONNACK. */
  async connect(clientId: string, extra: Partial<IConnectPacket> = {}): Promise<Packet> {
    this.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: this.protocolVersion, clientId, clean: true, keepalive: 0, ...extra });
    await this.waitFor((p) => p.cmd === 'connack');
    const ack = this.received.find((p) => p.cmd === 'connack') as { returnCode?: number; reasonCode?: number };
    assert.equal(this.protocolVersion === 5 ? ack.reasonCode : ack.returnCode, 0);
    return ack as Packet;
  }

  end(): void {
    this.socket.destroy();
  }
}
