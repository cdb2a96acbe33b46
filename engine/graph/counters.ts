/**
 * Named counters: one Float64Array per owner and a fixed list of names (VPP `foreach_*_error`, Snabb
 * counters). Hot code increments `c.v[IDX]` with an index constant; cold code reads a snapshot.
 */
export class Counters {
  readonly v: Float64Array;
  constructor(readonly names: readonly string[]) {
    if (new Set(names).size !== names.length) throw new Error(`counters: duplicate name in ${names.join(',')}`);
    this.v = new Float64Array(names.length);
  }

  /** Index of a counter by name (setup time). */
  index(name: string): number {
    const i = this.names.indexOf(name);
    if (i < 0) throw new Error(`counters: no counter named ${name}`);
    return i;
  }

  /** Value by name (cold path). */
  get(name: string): number {
    return this.v[this.index(name)]!;
  }

  /** Name → value, including zeros, in declaration order. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 0; i < this.names.length; i++) out[this.names[i]!] = this.v[i]!;
    return out;
  }

  reset(): void {
    this.v.fill(0);
  }
}

/** Name → index record of an `as const` list, with each index as a literal type (`{ a: 0, b: 1 }`). */
export type NameIndex<N extends readonly string[]> = {
  readonly [K in keyof N & `${number}` as N[K] & string]: K extends `${infer I extends number}` ? I : never;
};

/**
 * Turn an `as const` list of names into a name → index record, so that `C.truncated` is a plain number
 * known at the call site. The one helper behind counter indices (`counterIndex`) and exit indices (`exitIndex`).
 */
export function nameIndex<const N extends readonly string[]>(names: N): NameIndex<N> {
  const out: Record<string, number> = {};
  names.forEach((n, i) => (out[n] = i));
  return out as unknown as NameIndex<N>;
}

/** Counter name → index (`const C = counterIndex(NAMES); c[C['drop-truncated']]++`). */
export const counterIndex = nameIndex;
