/** Hexagonal import rules: dependencies point inward. */
module.exports = {
  forbidden: [
    {
      name: "domain-is-pure",
      comment:
        "src/domain imports nothing outside itself: no adapters, no application, no packages, no node: builtins.",
      severity: "error",
      from: { path: "^src/domain" },
      to: { pathNot: "^src/domain" },
    },
    {
      name: "application-only-domain",
      comment: "src/application imports only the domain (and itself).",
      severity: "error",
      from: { path: "^src/application" },
      to: { pathNot: "^src/(domain|application)" },
    },
    {
      name: "only-main-imports-adapters",
      comment:
        "Only the composition root (src/main.ts and src/composition/) and adapters themselves import adapters.",
      severity: "error",
      from: { path: "^src", pathNot: "^src/(main\\.ts|composition/|adapters/)" },
      to: { path: "^src/adapters" },
    },
    {
      name: "no-circular",
      severity: "error",
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default"],
    },
  },
};
