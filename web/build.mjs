// Bundles third-party browser code with esbuild into the static site (committed; a test
// rebuilds it and fails when it differs):
//   web/vendor/*       -> portal/staff/vendor/        ES modules and stylesheets the staff
//                                                     app imports on first use
//   web/visit-media/*  -> portal/visit-media/vendor/  amazon-chime-sdk-js for the Chime
//                                                     media frame (docs/telehealth.md),
//                                                     loaded only when a visit joins Chime
// Usage: node web/build.mjs [--out DIR]   (DIR stands for portal/: DIR/staff/vendor, ...)
import { build } from "esbuild";
import { readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const outFlag = process.argv.indexOf("--out");
const root = outFlag > 0 ? resolve(process.argv[outFlag + 1]) : join(here, "..", "portal");
const BUNDLES = [
  { from: "vendor", to: join(root, "staff", "vendor"), define: {} },
  // The Chime SDK refers to Node's `global` (its CSP monitor): the browser's is globalThis.
  { from: "visit-media", to: join(root, "visit-media", "vendor"), define: { global: "globalThis" } },
];

for (const { from, to, define } of BUNDLES) {
  const entryPoints = readdirSync(join(here, from))
    .filter((name) => /\.(js|css)$/.test(name))
    .sort()
    .map((name) => join(here, from, name));
  await build({
    entryPoints,
    outdir: to,
    bundle: true,
    format: "esm",
    platform: "browser",
    mainFields: ["browser", "module", "main"],
    target: ["es2020", "chrome100", "firefox100", "safari15"],
    minify: true,
    legalComments: "inline",
    charset: "utf8",
    define,
    logLevel: "warning",
  });
}
