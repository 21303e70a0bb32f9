/**
 * The npm name and version the widgets are registered under. package.json is
 * the single version source; the Python package derives its version from it
 * at build time, and `_model_module_version` must be a range this satisfies.
 */

// A require, not an import: package.json sits outside `rootDir`, and the
// bundler inlines it either way.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const packageJson = require('../package.json') as {
  name: string;
  version: string;
};

export const MODULE_NAME: string = packageJson.name;
export const MODULE_VERSION: string = packageJson.version;
