import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../../test/helpers';
import { errorLine, isTemporaryName, readInputFile, replaceFile, temporaryBeside, writeFileReplacing } from './files';

describe('readInputFile', () => {
  let t: ReturnType<typeof tempDir>;
  beforeAll(() => (t = tempDir()));
  afterAll(() => t.cleanup());

  it('reads UTF-8 text (BOM dropped) and refuses what is not a bounded text file, naming it', () => {
    const ok = path.join(t.dir, 'ok.json');
    writeFileSync(ok, '\ufeff{"a":1}');
    expect(readInputFile(ok, '--input-file')).toBe('{"a":1}');
    expect(() => readInputFile(path.join(t.dir, 'missing'), '--input-file')).toThrow(/^cannot read --input-file .*missing: it does not exist$/);
    expect(() => readInputFile(t.dir, 'config')).toThrow(/: it is a folder$/);
    expect(() => readInputFile('/dev/null', 'config')).toThrow(/: it is not a regular file$/);
    const big = path.join(t.dir, 'big');
    writeFileSync(big, 'x'.repeat(3000));
    expect(() => readInputFile(big, 'config', 2048)).toThrow(/config .*big is larger than 2 KB \(3 KB\)$/);
    const latin1 = path.join(t.dir, 'latin1');
    writeFileSync(latin1, Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0x73, 0x65, 0x63, 0x72, 0x65, 0x74]));
    expect(() => readInputFile(latin1, 'config')).toThrow(/^config .*latin1 is not UTF-8 text \(first bad byte at offset 3\)$/);
  });
});

describe('replaceFile', () => {
  let t: ReturnType<typeof tempDir>;
  beforeAll(() => (t = tempDir()));
  afterAll(() => t.cleanup());

  it('puts the new file in place whole, and leaves the old one and no temporary file on failure', async () => {
    const file = path.join(t.dir, 'out.jsonl');
    writeFileSync(file, 'old\n');
    await expect(
      replaceFile(file, 'output', async (target) => {
        writeFileSync(target.path, 'half');
        throw new Error('disk full');
      }),
    ).rejects.toThrow('disk full');
    expect(readFileSync(file, 'utf8')).toBe('old\n');
    expect(readdirSync(t.dir)).toEqual(['out.jsonl']);
    await writeFileReplacing(file, 'output', 'new\n');
    expect(readFileSync(file, 'utf8')).toBe('new\n');
    expect(readdirSync(t.dir)).toEqual(['out.jsonl']);
    mkdirSync(path.join(t.dir, 'folder'));
    await expect(writeFileReplacing(path.join(t.dir, 'folder'), '--out', 'x')).rejects.toThrow(/^cannot write --out .*folder: it is a folder$/);
    await expect(writeFileReplacing(path.join(t.dir, 'no', 'such', 'dir', 'x'), '--out', 'x')).rejects.toThrow(/it does not exist$/);
    expect(existsSync(path.join(t.dir, 'no'))).toBe(false);
  });

  it('writes devices and pipes in place (never renames over /dev/...), and through a symbolic link keeps the link', async () => {
    await writeFileReplacing('/dev/null', '--out', 'discarded');
    expect(statSync('/dev/null').isCharacterDevice()).toBe(true);
    if (existsSync('/dev/full')) {
      await expect(writeFileReplacing('/dev/full', '--out', 'x'.repeat(100_000))).rejects.toThrow(
        /^cannot write --out \/dev\/full: the disk is full$/,
      );
      expect(statSync('/dev/full').isCharacterDevice()).toBe(true);
    }
    const real = path.join(t.dir, 'real.jsonl');
    const link = path.join(t.dir, 'link.jsonl');
    writeFileSync(real, 'old\n');
    symlinkSync(real, link);
    await writeFileReplacing(link, '--out', 'new\n');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(real, 'utf8')).toBe('new\n');
  });
});

describe('isTemporaryName', () => {
  it('knows temporaryBeside names and no others', () => {
    expect(isTemporaryName(path.basename(temporaryBeside('/data/model.onnx')))).toBe(true);
    for (const name of ['model.onnx', 'notes.tmp', 'a.tmp-12', 'a.tmp-12-xyzxyzxy', 'a.tmp-12-0123abcd.json'])
      expect(isTemporaryName(name)).toBe(false);
  });
});

describe('errorLine', () => {
  const fsError = (code: string, syscall: string, p: string) =>
    Object.assign(new Error(`${code}: raw message, ${syscall} '${p}'`), { code, syscall, path: p });

  it('makes one line of any failure, without the input it came from', () => {
    expect(errorLine(fsError('EROFS', 'open', '/store/x'))).toBe('cannot open /store/x: the file system is read-only');
    expect(errorLine(fsError('EACCES', 'mkdir', '/store/datasets'))).toBe('cannot mkdir /store/datasets: permission denied');
    expect(errorLine(fsError('ENOSPC', 'write', '/store/x'))).toBe('cannot write /store/x: the disk is full');
    let syntax: unknown;
    try {
      JSON.parse('{"secret": "do not print me');
    } catch (err) {
      syntax = err;
    }
    expect(errorLine(syntax)).toMatch(/^not valid JSON/);
    expect(errorLine(syntax)).not.toContain('do not print');
    expect(errorLine(new RangeError('Maximum call stack size exceeded'))).toBe('the input is nested too deeply or is too large to handle');
    expect(errorLine(new Error('first line\n    at stack (x.ts:1:1)\u001b[31m'))).toBe('first line');
    expect(errorLine(new Error(`bell\u0007 ${'x'.repeat(1000)}`))).toHaveLength(500);
    expect(errorLine('a string')).toBe('a string');
  });
});
