// Reads the SSH wire encoding (RFC 4251 §5) of public keys, certificates and signatures.
// Every read is bounds-checked: these bytes come from files and from peers, and a short or
// lying length must become a clear error, never an out-of-range read.

export class SshWireError extends Error {}

export class SshWireReader {
  private pos = 0;
  constructor(private readonly buf: Buffer, private readonly what: string) {}

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  /** Bytes consumed so far (e.g. the signed part of a certificate ends here). */
  get offset(): number {
    return this.pos;
  }

  uint32(): number {
    this.need(4, 'uint32');
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  uint64(): bigint {
    this.need(8, 'uint64');
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  bytes(): Buffer {
    const len = this.uint32();
    this.need(len, 'string');
    const v = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return v;
  }

  /** A string field that must be UTF-8 text. */
  text(): string {
    return this.bytes().toString('utf8');
  }

  /** An mpint as unsigned big-endian bytes without leading zeros. */
  mpint(): Buffer {
    const raw = this.bytes();
    if (raw.length > 0 && (raw[0]! & 0x80) !== 0) throw new SshWireError(`${this.what}: negative mpint`);
    let start = 0;
    while (start < raw.length - 1 && raw[start] === 0) start += 1;
    return raw.subarray(start);
  }

  end(): void {
    if (this.remaining !== 0) throw new SshWireError(`${this.what}: ${this.remaining} unexpected trailing bytes`);
  }

  private need(n: number, field: string): void {
    if (this.pos + n > this.buf.length) throw new SshWireError(`${this.what}: truncated ${field}`);
  }
}

/** Splits a packed list of strings (principals, or name/data pairs of options). */
export function readStringList(data: Buffer, what: string): Buffer[] {
  const r = new SshWireReader(data, what);
  const out: Buffer[] = [];
  while (r.remaining > 0) out.push(r.bytes());
  return out;
}

export function sshString(value: Buffer | string): Buffer {
  const body = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  const len = Buffer.allocUnsafe(4);
  len.writeUInt32BE(body.length, 0);
  return Buffer.concat([len, body]);
}
