/** A literal string as a regular-expression fragment. */
export function escapeRegex(word: string): string {
  return word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Returns why a regular-expression source may backtrack badly, or null when it is fine: a
 * quantified group (`*`, `+`, `{n,}`, `{n,m}` with m > 1) must not itself contain an unbounded
 * quantifier. A conservative scan, not a full parser: it reads escapes, character classes and
 * groups, which is all the marker vocabulary uses.
 */
export function nonLinearReason(source: string): string | null {
  const stack: { unbounded: boolean }[] = [{ unbounded: false }];
  const top = () => stack[stack.length - 1] as { unbounded: boolean };
  // Reads a quantifier at i: its length and whether it repeats more than once without bound.
  const quantifier = (i: number): { length: number; repeats: boolean; unbounded: boolean } | null => {
    const c = source[i];
    if (c === '*' || c === '+') return { length: source[i + 1] === '?' ? 2 : 1, repeats: true, unbounded: true };
    if (c === '?') return { length: source[i + 1] === '?' ? 2 : 1, repeats: false, unbounded: false };
    if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}\??/.exec(source.slice(i));
      if (!m) return null;
      const upper = m[2] === undefined ? Number(m[1]) : m[3] === '' ? Infinity : Number(m[3]);
      return { length: m[0].length, repeats: upper > 1, unbounded: upper === Infinity };
    }
    return null;
  };
  for (let i = 0; i < source.length;) {
    const c = source[i] as string;
    let atomUnbounded = false;
    if (c === '\\') {
      // \p{...} and \u{...} carry braces that are not quantifiers.
      i += /^[pPu]\{/.test(source.slice(i + 1, i + 3)) ? source.indexOf('}', i) + 1 - i : 2;
    } else if (c === '[') {
      let j = i + 1;
      if (source[j] === ']') j++;
      while (j < source.length && source[j] !== ']') j += source[j] === '\\' ? 2 : 1;
      i = j + 1;
    } else if (c === '(') {
      stack.push({ unbounded: false });
      i += 1;
      continue;
    } else if (c === ')') {
      if (stack.length === 1) return `unbalanced ) at ${i}`;
      const group = stack.pop() as { unbounded: boolean };
      i += 1;
      const q = quantifier(i);
      if (q?.repeats && group.unbounded) return `a repeated group contains an unbounded quantifier (before ${i})`;
      if (group.unbounded || q?.unbounded) top().unbounded = true;
      if (q) i += q.length;
      continue;
    } else {
      i += 1;
    }
    const q = quantifier(i);
    if (q) {
      atomUnbounded = q.unbounded;
      i += q.length;
    }
    if (atomUnbounded) top().unbounded = true;
  }
  return stack.length === 1 ? null : 'unbalanced (';
}
