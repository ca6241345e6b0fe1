import { randomBytes } from 'node:crypto';
import { readFileSync, realpathSync, statSync, type Stats } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { jsonErrorPosition } from './jsonl';
import { firstBadUtf8Byte } from './lines';

/** Largest configuration or input file read whole (a pipeline input, a detector list, a manifest). */
export const MAX_INPUT_FILE_BYTES = 4 * 1024 * 1024;

/** Why a filesystem call failed, in words, from a Node error's code (its message would be noise). */
export function fsReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'it does not exist';
    case 'ENOTDIR':
      return 'a part of its path is not a folder';
    case 'EISDIR':
      return 'it is a folder';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'the file system is read-only';
    case 'ENOSPC':
      return 'the disk is full';
    case 'EDQUOT':
      return 'the disk quota is used up';
    case 'ENAMETOOLONG':
      return 'the path is too long';
    case 'EEXIST':
      return 'a file of that name is in the way';
    case 'ELOOP':
      return 'it is a loop of symbolic links';
    case 'EMFILE':
    case 'ENFILE':
      return 'too many open files';
    default:
      return code ?? (err instanceof Error ? err.message.split('\n')[0]!.slice(0, 200) : 'unknown error');
  }
}

/**
 * Checks that `file` is a regular file (not missing, a folder, a device or a pipe, which may never
 * end) and returns its stats; the error names `what` and the path.
 */
export function checkRegularFile(file: string, what: string): Stats {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(file);
  } catch (err) {
    throw new Error(`cannot read ${what} ${file}: ${fsReason(err)}`);
  }
  if (st.isDirectory()) throw new Error(`cannot read ${what} ${file}: it is a folder`);
  if (!st.isFile()) throw new Error(`cannot read ${what} ${file}: it is not a regular file`);
  return st;
}

/**
 * Reads a whole text file given on a command line or in a setting, refusing what cannot be one:
 * a missing path, a folder, a device or pipe (which may never end), a file over `maxBytes`, bytes
 * that are not UTF-8. Errors name `what` and the path, never the file's content. A leading BOM
 * is dropped.
 */
export function readInputFile(file: string, what: string, maxBytes = MAX_INPUT_FILE_BYTES): string {
  const { size } = checkRegularFile(file, what);
  if (size > maxBytes) throw new Error(`${what} ${file} is larger than ${formatBytes(maxBytes)} (${formatBytes(size)})`);
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read ${what} ${file}: ${fsReason(err)}`);
  }
  if (bytes.length > maxBytes) throw new Error(`${what} ${file} is larger than ${formatBytes(maxBytes)}`);
  const bad = firstBadUtf8Byte(bytes);
  if (bad >= 0) throw new Error(`${what} ${file} is not UTF-8 text (first bad byte at offset ${bad})`);
  const text = bytes.toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${(n / (1024 * 1024)).toFixed(n % (1024 * 1024) === 0 ? 0 : 1)} MB` : `${Math.ceil(n / 1024)} KB`;
}

/**
 * One line for a command's failure: the error's first line, control characters removed, at most
 * `max` characters. Filesystem errors say what failed in words; JSON parse errors give the
 * position only (V8's message quotes the text); a stack overflow or an over-long string, from
 * input nested too deeply or too large, says so.
 */
export function errorLine(err: unknown, max = 500): string {
  let message: string;
  if (err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' && (err as NodeJS.ErrnoException).syscall) {
    const e = err as NodeJS.ErrnoException;
    message = `cannot ${e.syscall}${e.path ? ` ${e.path}` : ''}: ${fsReason(e)}`;
  } else if (err instanceof SyntaxError && /JSON/.test(err.message)) {
    const at = jsonErrorPosition(err);
    message = `not valid JSON${at === undefined ? '' : ` (at character ${at})`}`;
  } else if (err instanceof RangeError && /call stack|string length|Array buffer allocation|allocation failed/i.test(err.message)) {
    message = 'the input is nested too deeply or is too large to handle';
  } else {
    message = err instanceof Error ? err.message : String(err);
  }

  const line = (message.split('\n')[0] ?? '').replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line || 'failed';
}

/** A temporary name beside `file`, on the same file system so a rename can put it in place. */
export function temporaryBeside(file: string): string {
  return path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Whether a file name is one of {@link temporaryBeside}'s: a file still being written, not yet in place. */
export function isTemporaryName(name: string): boolean {
  return /\.tmp-\d+-[0-9a-f]{8}$/.test(name);
}

/** Where {@link replaceFile}'s writer writes: a path, and the open flags to use on it. */
export interface WriteTarget {
  path: string;
  /** `wx` for a fresh temporary file, `w` for a device or pipe written in place. */
  flags: 'wx' | 'w';
}

/**
 * Writes a file a command was asked to write without harming what is there until the new one is
 * whole: the data goes to a temporary file beside it (beside the file a symbolic link points to,
 * so the link stays a link), which is renamed into place on success and removed on failure. A
 * device or pipe (`/dev/stdout`, a FIFO) is written in place: renaming over it would replace the
 * device itself. A folder is refused. Errors say what failed in words.
 */
export async function replaceFile<T>(file: string, what: string, write: (target: WriteTarget) => Promise<T>): Promise<T> {
  const fail = (err: unknown): never => {
    if ((err as NodeJS.ErrnoException).code && (err as NodeJS.ErrnoException).syscall)
      throw new Error(`cannot write ${what} ${file}: ${fsReason(err)}`);
    throw err;
  };
  let destination = file;
  try {
    const st = statSync(file);
    if (st.isDirectory()) throw new Error(`cannot write ${what} ${file}: it is a folder`);
    if (!st.isFile()) return await write({ path: file, flags: 'w' }).catch(fail);
    destination = realpathSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') fail(err);
  }
  const temporary = temporaryBeside(destination);
  try {
    const result = await write({ path: temporary, flags: 'wx' });
    await rename(temporary, destination);
    return result;
  } catch (err) {
    await rm(temporary, { force: true }).catch(() => undefined);
    return fail(err);
  }
}

/** {@link replaceFile} for data in memory. */
export function writeFileReplacing(file: string, what: string, data: string | Uint8Array): Promise<void> {
  return replaceFile(file, what, (target) => writeFile(target.path, data, { flag: target.flags }));
}
