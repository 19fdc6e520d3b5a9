// Joining pieces of a stream's bytes or samples into one array: every decoder needs it, and
// one copy of the loop serves them all.

type Joinable = Uint8Array | Float32Array;

function join<T extends Joinable>(parts: readonly T[], make: (length: number) => T): T {
  const nonEmpty = parts.filter((part) => part.length > 0);
  if (nonEmpty.length === 1) return nonEmpty[0];
  const joined = make(nonEmpty.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of nonEmpty) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}

export function joinBytes(...parts: Uint8Array[]): Uint8Array {
  return join(parts, (length) => new Uint8Array(length));
}

export function joinSamples(parts: readonly Float32Array[]): Float32Array {
  return join(parts, (length) => new Float32Array(length));
}
