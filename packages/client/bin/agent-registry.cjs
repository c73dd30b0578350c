#!/usr/bin/env node
// The file npm links as `agent-registry`. It is committed rather than built because npm links no bin whose file is
// missing at install time: in a fresh clone, `npm ci` runs before `npm run build` makes dist/.
require('../dist/cjs/cli/main.js');
