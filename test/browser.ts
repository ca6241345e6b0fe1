import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

/** The Chromium binary the browser tests drive: PIXEL_CHROMIUM, else Debian's package. */
export function chromiumPath(): string {
  const found = process.env.PIXEL_CHROMIUM ?? CANDIDATES.find((p) => existsSync(p));
  if (!found || !existsSync(found))
    throw new Error('Chromium not found: run `bash scripts/setup.sh --test` (installs Debian’s chromium) or set PIXEL_CHROMIUM');
  return found;
}

/** Headless Chromium through playwright-core (no browser download: the system's binary). */
export function launchBrowser(): Promise<Browser> {
  // No sandbox: CI runs as root in a container, where Chromium's sandbox cannot start.
  return chromium.launch({ executablePath: chromiumPath(), headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
}
