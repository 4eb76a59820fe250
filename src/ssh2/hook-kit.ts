// What every per-connection ssh2 hook in this folder needs: to know that an ssh2 method is the
// code the hook was written against (its class name and a fingerprint of its source), and to see
// each value ssh2 assigns to a field of the connection's Protocol object (ciphers and deciphers
// are replaced at every key exchange) without touching ssh2's prototypes.
import { createHash } from 'node:crypto';

/** First 16 hex digits of sha256 over the whitespace-normalised source. */
export function sourceFingerprint(fn: (...args: never[]) => unknown): string {
  return createHash('sha256').update(fn.toString().replace(/\s+/g, ' ')).digest('hex').slice(0, 16);
}

/**
 * The table entry (keyed by source fingerprint) for `method` of this object's class, when the
 * class name matches too; null otherwise. Looked up once per prototype.
 */
export function knownMethod<T extends { className: string }>(obj: object, method: string, table: Record<string, T>, cache: WeakMap<object, T | null>): T | null {
  const proto = Object.getPrototypeOf(obj) as ({ constructor: { name: string } } & Record<string, unknown>) | null;
  if (!proto) return null;
  let known = cache.get(proto);
  if (known === undefined) {
    const fn = proto[method];
    const entry = typeof fn === 'function' ? table[sourceFingerprint(fn as (...args: never[]) => unknown)] : undefined;
    known = entry && entry.className === proto.constructor.name ? entry : null;
    cache.set(proto, known);
  }
  return known;
}

/**
 * Turns `field` of the client's Protocol object into an own accessor that calls `onAssign` for
 * the current value and every value ssh2 assigns later (before storing it). Null, and nothing
 * changed, when the field is not a plain own data property (ssh2 changed).
 */
export function watchProtocolField(client: object, field: string, onAssign: (value: object | undefined) => void): { current(): object | undefined } | null {
  const protocol = (client as { _protocol?: object })._protocol;
  if (!protocol || typeof protocol !== 'object' || !(field in protocol)) return null;
  const own = Object.getOwnPropertyDescriptor(protocol, field);
  if (!own || !('value' in own)) return null;
  let current = own.value as object | undefined;
  onAssign(current);
  Object.defineProperty(protocol, field, {
    configurable: true,
    enumerable: own.enumerable,
    get: () => current,
    set: (value: object | undefined) => {
      onAssign(value);
      current = value;
    },
  });
  return { current: () => current };
}
