/**
 * The layering of ARCHITECTURE.md, checked on every test run (`npm run deps`): no import
 * cycles, nothing under shared/ reaching up into the Temporal layers or the commands, and
 * activities never importing workflows.
 * @type {import('dependency-cruiser').IConfiguration}
 */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'Modules must not import each other in a circle.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'shared-is-the-bottom-layer',
      severity: 'error',
      comment: 'shared/ is library code: it never imports workflows/, activities/, workers/, scripts/, client/, review-ui/ or serving/.',
      from: { path: '^shared/' },
      to: { path: '^(workflows|activities|workers|scripts|client|review-ui|serving)/' },
    },
    {
      name: 'activities-do-not-import-workflows',
      severity: 'error',
      comment: 'Activities are adapters around shared/; workflows import activity types, not the other way round.',
      from: { path: '^activities/' },
      to: { path: '^workflows/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|dist|\\.pixel|coverage)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    moduleSystems: ['cjs', 'es6'],
  },
};
