import { realpathSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StoreLocation } from '../artifacts/store';

/**
 * The folders a worker reads source files from. A run's `data.source.uri` comes from whoever can
 * start a workflow (the Temporal UI, any client), and the prepare stage copies what it reads into
 * artifacts (a malformed line goes to the quarantine as it is); without a limit, any file the
 * worker's user can read (`/etc/passwd`, a private key) would land there.
 *
 * `PIXEL_SOURCE_ROOTS` (folders separated by the platform's path delimiter, `:` on Linux) replaces
 * the default: the data folder `$PIXEL_DATA` (default `$PIXEL_HOME/data`, `.pixel/data`) and the
 * artifact store's own folder (a JSONL file a previous stage or `pixel data generate` wrote).
 */
export function sourceRoots(store?: StoreLocation): string[] {
  const configured = process.env.PIXEL_SOURCE_ROOTS;
  if (configured !== undefined && configured.trim() !== '') {
    return configured
      .split(path.delimiter)
      .map((r) => r.trim())
      .filter((r) => r.length > 0)
      .map((r) => path.resolve(r));
  }
  const data = path.resolve(process.env.PIXEL_DATA ?? path.join(process.env.PIXEL_HOME ?? '.pixel', 'data'));
  return store?.kind === 'local' ? [data, path.resolve(store.root)] : [data];
}

const inside = (file: string, root: string) => {
  const rel = path.relative(root, file);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
};

const real = (p: string): string => {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
};

/**
 * Why a source URI may not be read, or null when it may: a local path (or `file://` URI) must
 * lie inside one of `roots`, both as written and once links are followed (a link inside a root
 * that points out of it is refused). URIs of other schemes are the artifact store's business.
 */
export function sourceOutsideRoots(uri: string, roots: readonly string[]): string | null {
  let file: string;
  if (uri.startsWith('file:')) {
    try {
      file = fileURLToPath(uri);
    } catch {
      return `source ${uri} is not a valid file:// URI`;
    }
  } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) {
    return null;
  } else {
    file = path.resolve(uri);
  }
  const allowed = roots.map((r) => path.resolve(r));
  const listed = allowed.join(', ');
  const hint = `put it in one of the allowed source folders (${listed}) or add its folder to PIXEL_SOURCE_ROOTS on the worker`;
  if (!allowed.some((r) => inside(file, r))) return `source ${file} is outside the allowed source folders: ${hint}`;
  const resolved = real(file);
  if (!allowed.some((r) => inside(resolved, real(r)))) return `source ${file} links to a file outside the allowed source folders: ${hint}`;
  return null;
}
