#!/usr/bin/env node
// The `pixel` command. The project runs its TypeScript through tsx, so no build step is needed.
require('tsx/cjs/api').register();
require('../scripts/pixel.ts');
