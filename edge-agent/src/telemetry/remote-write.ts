// Prometheus remote-write 1.0 wire format: a snappy-compressed (block format) protobuf WriteRequest,
// POSTed with Content-Encoding: snappy and X-Prometheus-Remote-Write-Version: 0.1.0.
// Shared by the agent (encode) and the hub receiver (decode) so both speak exactly one schema.
import protobuf from 'protobufjs';
import snappy from 'snappy';

export interface Label {
  name: string;
  value: string;
}
export interface Sample {
  value: number;
  /** Milliseconds since the epoch. */
  timestamp: number;
}
export interface TimeSeries {
  labels: Label[];
  samples: Sample[];
}
export interface WriteRequest {
  timeseries: TimeSeries[];
}

const root = protobuf.Root.fromJSON({
  nested: {
    prometheus: {
      nested: {
        WriteRequest: { fields: { timeseries: { rule: 'repeated', type: 'TimeSeries', id: 1 } } },
        TimeSeries: {
          fields: {
            labels: { rule: 'repeated', type: 'Label', id: 1 },
            samples: { rule: 'repeated', type: 'Sample', id: 2 },
          },
        },
        Label: { fields: { name: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } },
        Sample: { fields: { value: { type: 'double', id: 1 }, timestamp: { type: 'int64', id: 2 } } },
      },
    },
  },
});
const WriteRequestType = root.lookupType('prometheus.WriteRequest');

export const REMOTE_WRITE_HEADERS = {
  'content-type': 'application/x-protobuf',
  'content-encoding': 'snappy',
  'x-prometheus-remote-write-version': '0.1.0',
} as const;

/** Labels must be sorted by name for Prometheus to accept a series. */
export function sortLabels(labels: Label[]): Label[] {
  return [...labels].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function encodeWriteRequest(req: WriteRequest): Buffer {
  const proto = WriteRequestType.encode(WriteRequestType.fromObject(req)).finish();
  return snappy.compressSync(Buffer.from(proto.buffer, proto.byteOffset, proto.byteLength));
}

export function decodeWriteRequest(body: Buffer): WriteRequest {
  const raw = snappy.uncompressSync(body, { asBuffer: true }) as Buffer;
  const msg = WriteRequestType.decode(raw);
  return WriteRequestType.toObject(msg, { longs: Number, defaults: true }) as WriteRequest;
}
