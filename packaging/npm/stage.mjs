// Lays out the npm packages to pack, as esbuild and biome do: the main package
// (the helper and the `dynamic-mcp-server` command) and one package per
// platform holding its binary, which the main package lists in
// optionalDependencies so that npm installs only the one that fits.
//
//   node stage.mjs VERSION STAGE_DIR OS-CPU=BINARY...
//
// Each OS-CPU (Node's process.platform-process.arch, e.g. linux-x64) names a
// binary built for it; adding a platform is building its binary and naming
// it here.
import fs from "node:fs";
import path from "node:path";

const here = path.dirname(new URL(import.meta.url).pathname);
const [version, stage, ...binaries] = process.argv.slice(2);
if (!version || !stage || binaries.length === 0) {
  throw new Error("usage: node stage.mjs VERSION STAGE_DIR OS-CPU=BINARY...");
}
// The C library a Linux binary links against, for npm's `libc` field.
const LIBC = { linux: ["glibc"] };

const writeJson = (file, value) => fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
fs.rmSync(stage, { recursive: true, force: true });

const main = JSON.parse(fs.readFileSync(path.join(here, "dynamic-mcp-server", "package.json"), "utf8"));
main.version = version;
main.optionalDependencies = {};
for (const spec of binaries) {
  const [platform, binary] = spec.split("=");
  const [os, cpu] = platform.split("-");
  const name = `@dynamic-mcp-server/${platform}`;
  const dir = path.join(stage, platform);
  const exe = os === "win32" ? "dynamic-mcp-server.exe" : "dynamic-mcp-server";
  fs.mkdirSync(path.join(dir, "bin"), { recursive: true });
  fs.copyFileSync(binary, path.join(dir, "bin", exe));
  fs.chmodSync(path.join(dir, "bin", exe), 0o755);
  writeJson(path.join(dir, "package.json"), {
    name,
    version,
    description: `The dynamic-mcp-server binary for ${platform}; install dynamic-mcp-server, which picks it.`,
    license: main.license,
    os: [os],
    cpu: [cpu],
    ...(LIBC[os] && { libc: LIBC[os] }),
    files: ["bin/"],
    preferUnplugged: true,
  });
  main.optionalDependencies[name] = version;
}
const mainDir = path.join(stage, "dynamic-mcp-server");
fs.cpSync(path.join(here, "dynamic-mcp-server"), mainDir, { recursive: true });
writeJson(path.join(mainDir, "package.json"), main);
