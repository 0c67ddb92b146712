// Bundles each file in web/vendor/ into portal/staff/vendor/ with esbuild: ES modules and
// stylesheets the staff app imports on first use. The output is committed; a test rebuilds
// it and fails when it differs. Usage: node web/build.mjs [--out DIR]
import { build } from "esbuild";
import { readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const outFlag = process.argv.indexOf("--out");
const outdir = outFlag > 0 ? resolve(process.argv[outFlag + 1]) : join(here, "..", "portal", "staff", "vendor");
const entryPoints = readdirSync(join(here, "vendor"))
  .filter((name) => /\.(js|css)$/.test(name))
  .sort()
  .map((name) => join(here, "vendor", name));

await build({
  entryPoints,
  outdir,
  bundle: true,
  format: "esm",
  platform: "browser",
  mainFields: ["browser", "module", "main"],
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  minify: true,
  legalComments: "inline",
  charset: "utf8",
  logLevel: "warning",
});
